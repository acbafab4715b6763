-- Community and operator controls. guild_key is the guild id, or 0 for DMs and user installs
-- (0 is never a Discord id), so that keys are never NULL.

-- A usage reset by an admin: usage before reset_at no longer counts in that scope.
CREATE TABLE usage_resets (
    user_id     INTEGER NOT NULL,
    guild_key   INTEGER NOT NULL,
    reset_at    REAL    NOT NULL,
    PRIMARY KEY (user_id, guild_key)
);

-- One row per server that changed anything. NULL limits mean "use the global default".
CREATE TABLE guild_settings (
    guild_id          INTEGER PRIMARY KEY,
    daily_seconds     INTEGER CHECK (daily_seconds >= 0),
    monthly_seconds   INTEGER CHECK (monthly_seconds >= 0),
    max_active_jobs   INTEGER CHECK (max_active_jobs >= 0),
    paused            INTEGER NOT NULL DEFAULT 0 CHECK (paused IN (0, 1)),
    updated_at        REAL    NOT NULL
);

-- Role tiers: members get the most generous of their roles' limits. NULL = unlimited
-- is not allowed here; a tier always names its numbers.
CREATE TABLE role_limits (
    guild_id          INTEGER NOT NULL,
    role_id           INTEGER NOT NULL,
    daily_seconds     INTEGER NOT NULL CHECK (daily_seconds >= 0),
    monthly_seconds   INTEGER NOT NULL CHECK (monthly_seconds >= 0),
    max_active_jobs   INTEGER NOT NULL CHECK (max_active_jobs >= 0),
    updated_at        REAL    NOT NULL,
    PRIMARY KEY (guild_id, role_id)
);

-- Per-user overrides and blocks within one server (guild_key 0: the bot-wide DM scope).
CREATE TABLE user_limits (
    guild_key         INTEGER NOT NULL,
    user_id           INTEGER NOT NULL,
    daily_seconds     INTEGER CHECK (daily_seconds >= 0),
    monthly_seconds   INTEGER CHECK (monthly_seconds >= 0),
    max_active_jobs   INTEGER CHECK (max_active_jobs >= 0),
    blocked           INTEGER NOT NULL DEFAULT 0 CHECK (blocked IN (0, 1)),
    block_reason      TEXT,
    updated_at        REAL    NOT NULL,
    PRIMARY KEY (guild_key, user_id)
);

-- Channels where /animate may be used; none for a server means everywhere.
CREATE TABLE allowed_channels (
    guild_id    INTEGER NOT NULL,
    channel_id  INTEGER NOT NULL,
    PRIMARY KEY (guild_id, channel_id)
);

-- Operator state that must survive restarts: global pause, run-time cap, alert target,
-- and which alerts were already sent (so each is sent once per event).
CREATE TABLE bot_state (
    key         TEXT PRIMARY KEY,
    value       TEXT NOT NULL,
    updated_at  REAL NOT NULL
);

-- Every admin and owner change: who, what, old and new value, when.
CREATE TABLE audit_log (
    id          INTEGER PRIMARY KEY,
    guild_key   INTEGER NOT NULL,
    actor_id    INTEGER NOT NULL,
    action      TEXT    NOT NULL,
    target      TEXT,
    old_value   TEXT,
    new_value   TEXT,
    created_at  REAL    NOT NULL
);
CREATE INDEX audit_by_guild ON audit_log (guild_key, id);
