-- PostgreSQL twin of db/migrations/0005_charges.sql: the same schema, with PostgreSQL's types.
-- Issue 11. charged_seconds (0001) now holds the delivered clip's real length (rounded up, pro
-- multiplied, at most cost_seconds). side_by_side_at records when the one side-by-side video of a
-- delivered clip was made, so the button works once per clip, across restarts.
ALTER TABLE jobs ADD COLUMN side_by_side_at DOUBLE PRECISION;
