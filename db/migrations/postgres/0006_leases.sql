-- Several processes share the work: a job being worked on is claimed by one process (claimed_by,
-- a name unique per process) until lease_until, which that process renews while it works. A job
-- whose lease ran out is taken over by any process, under the start-up rules.
ALTER TABLE jobs ADD COLUMN claimed_by TEXT;
ALTER TABLE jobs ADD COLUMN lease_until DOUBLE PRECISION;
CREATE INDEX jobs_by_claim ON jobs (claimed_by) WHERE claimed_by IS NOT NULL;
