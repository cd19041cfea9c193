-- Webhook delivery logs and what secret rotation needs. A log row is written in the same
-- transaction as its event (when the merchant has a URL); its retry schedule lives in
-- procrastinate_jobs. `generation` changes on a manual retry so older scheduled jobs become stale;
-- `delivering_until` is a short lease so one log is never delivered twice at the same moment.

ALTER TABLE merchants
    ADD COLUMN previous_webhook_secret text,
    ADD COLUMN previous_webhook_secret_expires_at timestamptz;

CREATE TABLE webhook_logs (
    id uuid PRIMARY KEY,
    merchant_id uuid NOT NULL REFERENCES merchants (id),
    event_id text NOT NULL REFERENCES events (id),
    event text NOT NULL,
    resource_id text NOT NULL,
    payload text NOT NULL,
    status text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'success', 'failed')),
    attempts integer NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    generation integer NOT NULL DEFAULT 0,
    delivering_until timestamptz,
    last_attempt_at timestamptz,
    next_retry_at timestamptz,
    response_code integer,
    response_body text,
    created_at timestamptz NOT NULL DEFAULT clock_timestamp(),
    updated_at timestamptz NOT NULL DEFAULT clock_timestamp()
);

CREATE INDEX webhook_logs_merchant_created_idx ON webhook_logs (merchant_id, created_at DESC);
CREATE INDEX webhook_logs_status_idx ON webhook_logs (status);
CREATE INDEX webhook_logs_resource_idx ON webhook_logs (resource_id);
CREATE INDEX webhook_logs_next_retry_idx ON webhook_logs (next_retry_at) WHERE status = 'pending';
