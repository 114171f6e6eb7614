-- Transactional outbox: jobs are written with the change that causes them and moved to Redis
-- afterwards, so a Redis outage loses nothing. The row is also the job's durable record:
-- attempts, last error and outcome live here, not only in Redis.
CREATE TABLE outbox (
    id            BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    kind          TEXT        NOT NULL,
    payload       JSONB       NOT NULL,
    created_at    TIMESTAMPTZ NOT NULL DEFAULT now(),
    -- Not dispatched before this (delayed jobs such as pending-order expiry).
    available_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
    dispatched_at TIMESTAMPTZ,
    attempts      INTEGER     NOT NULL DEFAULT 0,
    last_attempt_at TIMESTAMPTZ,
    last_error    TEXT,
    completed_at  TIMESTAMPTZ,
    outcome       TEXT CHECK (outcome IN ('done', 'skipped', 'dead'))
);
CREATE INDEX outbox_undispatched_idx ON outbox (available_at, id) WHERE dispatched_at IS NULL;
CREATE INDEX outbox_completed_idx ON outbox (completed_at) WHERE completed_at IS NOT NULL;
-- Dispatched but unfinished jobs, checked for ones Redis lost.
CREATE INDEX outbox_in_flight_idx ON outbox (dispatched_at)
    WHERE dispatched_at IS NOT NULL AND completed_at IS NULL;

-- Jobs that ran out of attempts or failed permanently, for admins to inspect and retry.
CREATE TABLE dead_jobs (
    id          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    outbox_id   BIGINT REFERENCES outbox (id) ON DELETE SET NULL,
    kind        TEXT        NOT NULL,
    payload     JSONB       NOT NULL,
    last_error  TEXT        NOT NULL,
    attempts    INTEGER     NOT NULL,
    first_attempt_at TIMESTAMPTZ,
    died_at     TIMESTAMPTZ NOT NULL DEFAULT now(),
    retried_at  TIMESTAMPTZ,
    retried_by  BIGINT REFERENCES users (id) ON DELETE SET NULL
);
CREATE INDEX dead_jobs_died_idx ON dead_jobs (died_at DESC, id DESC);

-- One row per email actually sent: a job delivered twice finds it and sends nothing.
CREATE TABLE email_deliveries (
    id          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    order_id    BIGINT      NOT NULL,
    kind        TEXT        NOT NULL,
    recipient   TEXT        NOT NULL,
    message_id  TEXT        NOT NULL,
    sent_at     TIMESTAMPTZ NOT NULL DEFAULT now(),
    CONSTRAINT email_deliveries_order_kind_key UNIQUE (order_id, kind)
);
