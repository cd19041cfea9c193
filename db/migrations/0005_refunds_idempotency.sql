-- Refunds, and the idempotency keys that make creation requests safe to retry.

CREATE TABLE refunds (
    id text PRIMARY KEY CHECK (id ~ '^rfnd_[A-Za-z0-9]{16}$'),
    payment_id text NOT NULL REFERENCES payments (id),
    merchant_id uuid NOT NULL REFERENCES merchants (id),
    amount bigint NOT NULL CHECK (amount > 0),
    reason text CHECK (length(reason) <= 255),
    status text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'processed')),
    created_at timestamptz NOT NULL DEFAULT now(),
    processed_at timestamptz,
    -- processed_at is set exactly when the refund is processed, never otherwise.
    CONSTRAINT refunds_processed_at CHECK ((status = 'processed') = (processed_at IS NOT NULL))
);

CREATE INDEX refunds_payment_idx ON refunds (payment_id);
CREATE INDEX refunds_merchant_created_idx ON refunds (merchant_id, created_at DESC, id DESC);

-- One row per (merchant, Idempotency-Key). A request claims the key (in_progress, with a lease and
-- a random token); the resource's own transaction turns it completed with the exact response
-- bytes. A lease in the past means the claiming request died: the key may be claimed again.
CREATE TABLE idempotency_keys (
    merchant_id uuid NOT NULL REFERENCES merchants (id),
    key text NOT NULL CHECK (length(key) BETWEEN 1 AND 255),
    fingerprint text NOT NULL CHECK (fingerprint ~ '^[0-9a-f]{64}$'),
    state text NOT NULL DEFAULT 'in_progress' CHECK (state IN ('in_progress', 'completed')),
    lock_token uuid,
    locked_until timestamptz,
    response_status integer,
    response_body bytea,
    resource_id text,
    created_at timestamptz NOT NULL DEFAULT now(),
    expires_at timestamptz NOT NULL,
    PRIMARY KEY (merchant_id, key),
    CONSTRAINT idempotency_keys_state CHECK (
        (state = 'in_progress' AND lock_token IS NOT NULL AND locked_until IS NOT NULL)
        OR (state = 'completed' AND response_status IS NOT NULL AND response_body IS NOT NULL)
    )
);

CREATE INDEX idempotency_keys_expires_idx ON idempotency_keys (expires_at);
