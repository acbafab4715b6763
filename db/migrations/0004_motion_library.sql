-- The motion library: clips members can animate with instead of uploading a video, and the
-- inputs of jobs that are kept as attachments of Discord messages (fetched again at submit
-- time for a fresh link, since attachment links expire after about a day).

-- One row per motion. library_key is the server's id, or 0 for the bot-wide library (0 is never
-- a Discord id). The clip is an attachment of a message the bot posted: the message is stored,
-- never its link. Removed motions keep their row (jobs and stats point at it).
CREATE TABLE motions (
    id              INTEGER PRIMARY KEY,
    library_key     INTEGER NOT NULL,
    name            TEXT    NOT NULL,
    name_key        TEXT    NOT NULL,   -- the name case-folded: names are unique per library
    description     TEXT,
    channel_id      INTEGER NOT NULL,
    message_id      INTEGER NOT NULL,
    attachment_id   INTEGER NOT NULL,
    filename        TEXT    NOT NULL,
    video_kind      TEXT    NOT NULL,
    video_bytes     INTEGER NOT NULL,
    video_width     INTEGER NOT NULL,
    video_height    INTEGER NOT NULL,
    video_seconds   REAL    NOT NULL,
    has_audio       INTEGER NOT NULL DEFAULT 0 CHECK (has_audio IN (0, 1)),
    added_by        INTEGER NOT NULL,
    added_at        REAL    NOT NULL,
    unavailable_at  REAL,               -- its message or channel was found gone
    removed_at      REAL
);
CREATE UNIQUE INDEX motions_by_name ON motions (library_key, name_key) WHERE removed_at IS NULL;

-- Roles whose members may add and remove motions in a server (besides Manage Server).
CREATE TABLE motion_curators (
    guild_id    INTEGER NOT NULL,
    role_id     INTEGER NOT NULL,
    PRIMARY KEY (guild_id, role_id)
);

-- A job's inputs that live in Discord messages (a library motion, the Animate menu's target
-- message): the message and attachment, so the runner can fetch a fresh link when it submits.
ALTER TABLE jobs ADD COLUMN motion_id INTEGER REFERENCES motions (id);
ALTER TABLE jobs ADD COLUMN image_channel_id INTEGER;
ALTER TABLE jobs ADD COLUMN image_message_id INTEGER;
ALTER TABLE jobs ADD COLUMN image_attachment_id INTEGER;
ALTER TABLE jobs ADD COLUMN video_channel_id INTEGER;
ALTER TABLE jobs ADD COLUMN video_message_id INTEGER;
ALTER TABLE jobs ADD COLUMN video_attachment_id INTEGER;
-- How often each motion was used (autocomplete ranking, /motion list, stats).
CREATE INDEX jobs_by_motion ON jobs (motion_id, created_at) WHERE motion_id IS NOT NULL;
