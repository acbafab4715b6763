-- Jobs: one row per /animate request, from queued to a terminal state.
-- The quota ledger lives on the same row: cost_seconds is reserved while the job is active,
-- charged_seconds is set when it succeeds; failed and cancelled jobs count nothing.
CREATE TABLE jobs (
    id                  INTEGER PRIMARY KEY,
    state               TEXT    NOT NULL DEFAULT 'queued'
                        CHECK (state IN ('queued', 'submitting', 'processing', 'delivering',
                                         'succeeded', 'failed', 'cancelled')),
    user_id             INTEGER NOT NULL,
    guild_id            INTEGER,            -- NULL for DMs and user installs
    channel_id          INTEGER,
    status_message_id   INTEGER,
    result_message_id   INTEGER,
    delivery            TEXT,               -- how the clip reached the user: file, reencoded, link, dm...
    image_url           TEXT    NOT NULL,   -- public URL handed to the provider
    image_path          TEXT    NOT NULL,
    image_kind          TEXT    NOT NULL,
    image_bytes         INTEGER NOT NULL,
    image_width         INTEGER NOT NULL,
    image_height        INTEGER NOT NULL,
    video_url           TEXT    NOT NULL,
    video_path          TEXT    NOT NULL,
    video_kind          TEXT    NOT NULL,
    video_bytes         INTEGER NOT NULL,
    video_width         INTEGER NOT NULL,
    video_height        INTEGER NOT NULL,
    video_seconds       REAL    NOT NULL,
    orientation         TEXT    NOT NULL CHECK (orientation IN ('image', 'video')),
    mode                TEXT    NOT NULL CHECK (mode IN ('std', 'pro')),
    prompt              TEXT    NOT NULL,
    model_id            TEXT    NOT NULL,
    provider_job_id     TEXT,
    provider_eta        REAL,
    attempts            INTEGER NOT NULL DEFAULT 0,   -- submit attempts
    polls               INTEGER NOT NULL DEFAULT 0,
    transient_errors    INTEGER NOT NULL DEFAULT 0,   -- consecutive, reset by a good answer
    next_attempt_at     REAL,                         -- next poll (processing) or earliest resubmit (queued)
    deadline_at         REAL,
    cost_seconds        REAL    NOT NULL CHECK (cost_seconds >= 0),
    charged_seconds     REAL    NOT NULL DEFAULT 0,
    result_url          TEXT,
    result_path         TEXT,
    failure_code        TEXT,
    failure_reason      TEXT,
    retry_of            INTEGER REFERENCES jobs (id),
    created_at          REAL    NOT NULL,
    submitting_at       REAL,
    processing_at       REAL,
    delivering_at       REAL,
    finished_at         REAL,
    media_purged_at     REAL
);

-- The runner: active jobs by state, and due polls.
CREATE INDEX jobs_by_state ON jobs (state, next_attempt_at);
-- Fair dispatch: each user's oldest queued job, and when each user was last served.
CREATE INDEX jobs_queued_by_user ON jobs (user_id, id) WHERE state = 'queued';
-- The per-user quota windows.
CREATE INDEX jobs_by_user ON jobs (user_id, guild_id, created_at);
CREATE INDEX jobs_by_user_dispatch ON jobs (user_id, submitting_at);
-- The global daily cap and stats.
CREATE INDEX jobs_by_created ON jobs (created_at);
-- Media retention sweep.
CREATE INDEX jobs_by_finished ON jobs (finished_at) WHERE media_purged_at IS NULL;
