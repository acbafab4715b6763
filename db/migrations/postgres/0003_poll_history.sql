-- PostgreSQL twin of db/migrations/0003_poll_history.sql: the same schema, with PostgreSQL's types.
-- Poll history and webhooks.
-- ready_at: when the provider first reported the clip ready. Together with processing_at it is
-- the observed generation time that polls are planned from (services/runner/poll_plan.py).
-- webhook_secret: the random per-job part of the webhook URL sent with the submit; never logged.
-- webhook_at: when a webhook with the right secret last prompted a fetch of the job.
ALTER TABLE jobs ADD COLUMN ready_at DOUBLE PRECISION;
ALTER TABLE jobs ADD COLUMN webhook_secret TEXT;
ALTER TABLE jobs ADD COLUMN webhook_at DOUBLE PRECISION;

-- Generation history by kind of job, newest first.
CREATE INDEX jobs_by_ready ON jobs (mode, orientation, ready_at) WHERE ready_at IS NOT NULL;
-- Webhook look-up by secret.
CREATE UNIQUE INDEX jobs_by_webhook_secret ON jobs (webhook_secret)
    WHERE webhook_secret IS NOT NULL;
