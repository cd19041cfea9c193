-- The gateway's schema as it is today: the readable truth for our own tables.
--
-- Order of creation on a fresh database:
--   1. procrastinate's own schema (procrastinate_jobs, procrastinate_workers, ...) comes first,
--      from db/migrations/0001_procrastinate_3_10_0.sql, vendored verbatim from procrastinate
--      3.10.0. It is not repeated here.
--   2. This file: every table the migrations 0002 and later create.
--
-- NEXT AUTHOR: every new migration in db/migrations/ must be mirrored here in the same commit.
-- tests/test_migrations.py fails when a freshly migrated database differs from
-- procrastinate's schema followed by this file (compared with pg_dump --schema-only).
-- The bookkeeping table schema_migrations belongs to the migration runner and is left out.

CREATE TABLE merchants (
    id uuid PRIMARY KEY,
    name text NOT NULL CHECK (length(name) BETWEEN 1 AND 255),
    email text NOT NULL UNIQUE CHECK (length(email) BETWEEN 3 AND 255),
    -- key_test_ + 16 alphanumerics (the seeded merchant keeps the contract's shorter values).
    api_key text NOT NULL UNIQUE,
    -- Legacy plain text (before 0007): NULL once `gateway` has sealed it at start.
    api_secret text,
    -- scrypt$<salt b64>$<digest b64>; NULL = no dashboard password set.
    password_hash text,
    webhook_url text,
    -- Legacy plain text (before 0007), like api_secret.
    webhook_secret text,
    is_active boolean NOT NULL DEFAULT true,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    -- Legacy plain text (before 0007), like api_secret.
    previous_webhook_secret text,
    -- After a rotation the old secret keeps signing alongside the new one until it expires (24 h).
    previous_webhook_secret_expires_at timestamptz,
    -- The secrets (0007): AES-256-GCM under a key derived from the server key, each bound to its
    -- merchant id and column (gateway/vault.py). The MAC is a keyed HMAC of the API secret that
    -- authentication compares in constant time, so no request decrypts anything.
    api_secret_mac bytea CHECK (octet_length(api_secret_mac) = 32),
    api_secret_sealed bytea,
    webhook_secret_sealed bytea,
    previous_webhook_secret_sealed bytea,
    -- Origins allowed to embed this merchant's checkout and receive its results (0009); empty =
    -- any origin in the demo, none in production.
    checkout_origins text[] NOT NULL DEFAULT '{}' CHECK (cardinality(checkout_origins) <= 20),
    -- 0011: classic (the contract's bytes) or razorpay (Razorpay's envelope and headers).
    webhook_format text NOT NULL DEFAULT 'classic'
        CHECK (webhook_format IN ('classic', 'razorpay')),
    -- Each secret in exactly one form: plain (a row not converted yet) or sealed.
    CONSTRAINT merchants_api_secret_one_form CHECK (
        num_nonnulls(api_secret, api_secret_sealed) = 1
        AND (api_secret_sealed IS NULL) = (api_secret_mac IS NULL)
    ),
    CONSTRAINT merchants_webhook_secret_one_form CHECK (
        num_nonnulls(webhook_secret, webhook_secret_sealed) = 1
    ),
    CONSTRAINT merchants_previous_webhook_secret_one_form CHECK (
        num_nonnulls(previous_webhook_secret, previous_webhook_secret_sealed) <= 1
    )
);

COMMENT ON COLUMN merchants.api_secret IS
    'Legacy plain text, NULL once converted (0007); read only by merchants.seal_legacy_secrets';
COMMENT ON COLUMN merchants.webhook_secret IS
    'Legacy plain text, NULL once converted (0007); read only by merchants.seal_legacy_secrets';
COMMENT ON COLUMN merchants.previous_webhook_secret IS
    'Legacy plain text, NULL once converted (0007); read only by merchants.seal_legacy_secrets';

CREATE TABLE orders (
    id text PRIMARY KEY CHECK (id ~ '^order_[A-Za-z0-9]{16}$'),
    merchant_id uuid NOT NULL REFERENCES merchants (id),
    -- Money is integer paise.
    amount bigint NOT NULL CHECK (amount >= 100),
    currency text NOT NULL DEFAULT 'INR' CHECK (currency = 'INR'),
    receipt text CHECK (length(receipt) <= 255),
    notes jsonb NOT NULL DEFAULT '{}'::jsonb CHECK (jsonb_typeof(notes) = 'object'),
    status text NOT NULL DEFAULT 'created' CHECK (status IN ('created', 'paid')),
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    -- 0011: orders created through /v1 capture a successful payment at once (true) or leave it
    -- authorized (false); NULL = a classic order (captured only by the classic capture).
    payment_capture boolean
);

-- Merchant-scoped lists, newest first, with a stable tiebreak.
CREATE INDEX orders_merchant_created_idx ON orders (merchant_id, created_at DESC, id DESC);

-- Payments. Only card_network and card_last4 of a card are ever stored.
CREATE TABLE payments (
    id text PRIMARY KEY CHECK (id ~ '^pay_[A-Za-z0-9]{16}$'),
    order_id text NOT NULL REFERENCES orders (id),
    merchant_id uuid NOT NULL REFERENCES merchants (id),
    amount bigint NOT NULL CHECK (amount > 0),
    currency text NOT NULL CHECK (currency = 'INR'),
    method text NOT NULL CHECK (method IN ('upi', 'card')),
    status text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'success', 'failed')),
    captured boolean NOT NULL DEFAULT false,
    vpa text,
    card_network text CHECK (card_network IN ('visa', 'mastercard', 'amex', 'rupay', 'unknown')),
    card_last4 text CHECK (card_last4 ~ '^[0-9]{4}$'),
    error_code text,
    error_description text,
    amount_refunded bigint NOT NULL DEFAULT 0,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    -- 0011: notes (PATCH /v1/payments/{id}); NULL = none, so the hot insert stores nothing.
    notes jsonb CHECK (jsonb_typeof(notes) = 'object'),
    CONSTRAINT payments_method_details CHECK (
        (method = 'upi' AND vpa IS NOT NULL AND card_last4 IS NULL)
        OR (method = 'card' AND vpa IS NULL AND card_last4 IS NOT NULL)
    ),
    CONSTRAINT payments_refund_bound CHECK (amount_refunded BETWEEN 0 AND amount),
    CONSTRAINT payments_captured_success CHECK (NOT captured OR status = 'success')
);

CREATE INDEX payments_order_idx ON payments (order_id);
CREATE INDEX payments_merchant_created_idx ON payments (merchant_id, created_at DESC, id DESC);

CREATE TABLE events (
    id text PRIMARY KEY CHECK (id ~ '^evt_[A-Za-z0-9]{16}$'),
    merchant_id uuid NOT NULL REFERENCES merchants (id),
    type text NOT NULL,
    resource_id text NOT NULL,
    payload text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT clock_timestamp(),
    -- 0011: the body's format; both formats have a refund.created and a payment.failed.
    format text NOT NULL DEFAULT 'classic' CHECK (format IN ('classic', 'razorpay'))
);

CREATE INDEX events_resource_idx ON events (resource_id, created_at);
CREATE INDEX events_merchant_created_idx ON events (merchant_id, created_at DESC);

-- One row per webhook delivery of an event; its retry schedule lives in procrastinate_jobs.
-- generation: bumped by a manual retry (older scheduled jobs become stale).
-- delivering_until: a short lease so one log is never delivered twice at the same moment.
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
    updated_at timestamptz NOT NULL DEFAULT clock_timestamp(),
    -- 0011: the format it was emitted in (its delivery headers depend on it), kept when the
    -- merchant switches format later.
    format text NOT NULL DEFAULT 'classic' CHECK (format IN ('classic', 'razorpay'))
);

CREATE INDEX webhook_logs_merchant_created_idx
    ON webhook_logs (merchant_id, created_at DESC, id DESC);
CREATE INDEX webhook_logs_resource_idx ON webhook_logs (resource_id);
CREATE INDEX webhook_logs_next_retry_idx ON webhook_logs (next_retry_at) WHERE status = 'pending';

-- Refunds: pending + processed never sum past the payment (checked under the payment's row lock).
CREATE TABLE refunds (
    id text PRIMARY KEY CHECK (id ~ '^rfnd_[A-Za-z0-9]{16}$'),
    payment_id text NOT NULL REFERENCES payments (id),
    merchant_id uuid NOT NULL REFERENCES merchants (id),
    amount bigint NOT NULL CHECK (amount > 0),
    reason text CHECK (length(reason) <= 255),
    status text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'processed')),
    created_at timestamptz NOT NULL DEFAULT now(),
    processed_at timestamptz,
    -- 0011: Razorpay's refund fields (processing is always normal speed: no speed_processed).
    notes jsonb NOT NULL DEFAULT '{}'::jsonb CHECK (jsonb_typeof(notes) = 'object'),
    receipt text CHECK (length(receipt) <= 255),
    speed_requested text NOT NULL DEFAULT 'normal'
        CHECK (speed_requested IN ('normal', 'optimum')),
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

-- Dashboard login sessions (0006). The cookie holds a random id; only its SHA-256 is stored, so
-- a read of this table yields no usable session. Each session has its own CSRF token.
CREATE TABLE dashboard_sessions (
    id_hash text PRIMARY KEY CHECK (id_hash ~ '^[0-9a-f]{64}$'),
    merchant_id uuid NOT NULL REFERENCES merchants (id) ON DELETE CASCADE,
    csrf_token text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    expires_at timestamptz NOT NULL
);

CREATE INDEX dashboard_sessions_expires_idx ON dashboard_sessions (expires_at);
CREATE INDEX dashboard_sessions_merchant_idx ON dashboard_sessions (merchant_id);

-- Dashboard login throttling (0008): failed-login counters per client address, per account (the
-- email as typed) and per trusted device, keyed by an HMAC of what they count. In PostgreSQL so
-- the limit holds across processes and with Redis down.
CREATE TABLE login_attempts (
    bucket text PRIMARY KEY CHECK (bucket ~ '^(address|account|device):[0-9a-f]{64}$'),
    failures integer NOT NULL DEFAULT 0 CHECK (failures >= 0),
    blocked_until timestamptz,
    expires_at timestamptz NOT NULL
);

CREATE INDEX login_attempts_expires_idx ON login_attempts (expires_at);

-- 0010: payment webhook bodies rendered by PostgreSQL (the one-statement create and process).
-- ISO-8601 UTC with a Z at second precision (truncated), as serialize.timestamp.
CREATE FUNCTION gateway_timestamp_json(ts timestamptz) RETURNS text
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    RETURN CASE WHEN ts IS NULL THEN 'null'
        ELSE '"' || to_char(ts AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"') || '"' END;

-- A JSON string, or null.
CREATE FUNCTION gateway_text_json(value text) RETURNS text
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    RETURN coalesce(to_json(value)::text, 'null');

-- payments.Payment.out(): the API's payment object, key for key.
CREATE FUNCTION gateway_payment_json(p payments) RETURNS text
    LANGUAGE sql STABLE PARALLEL SAFE
    RETURN '{"id":' || gateway_text_json(p.id)
        || ',"order_id":' || gateway_text_json(p.order_id)
        || ',"amount":' || p.amount
        || ',"currency":' || gateway_text_json(p.currency)
        || ',"method":' || gateway_text_json(p.method)
        || CASE WHEN p.method = 'upi' THEN ',"vpa":' || gateway_text_json(p.vpa)
            ELSE ',"card_network":' || gateway_text_json(p.card_network)
                || ',"card_last4":' || gateway_text_json(p.card_last4) END
        || ',"status":' || gateway_text_json(p.status)
        || ',"captured":' || CASE WHEN p.captured THEN 'true' ELSE 'false' END
        || ',"error_code":' || gateway_text_json(p.error_code)
        || ',"error_description":' || gateway_text_json(p.error_description)
        || ',"amount_refunded":' || p.amount_refunded
        || ',"created_at":' || gateway_timestamp_json(p.created_at)
        || ',"updated_at":' || gateway_timestamp_json(p.updated_at)
        || '}';

-- signing.payload_bytes(event, timestamp, {"payment": …}).
CREATE FUNCTION gateway_payment_event(event text, ts bigint, p payments) RETURNS text
    LANGUAGE sql STABLE PARALLEL SAFE
    RETURN '{"event":' || gateway_text_json(event) || ',"timestamp":' || ts
        || ',"data":{"payment":' || gateway_payment_json(p) || '}}';

-- 0012: exact totals kept by triggers (see the migration for why and how).
CREATE TABLE row_counts (
    merchant_id uuid NOT NULL,
    list text NOT NULL CHECK (list IN ('orders', 'payments', 'refunds', 'webhook_logs')),
    status text NOT NULL,
    -- payments: the method; webhook_logs: the event; otherwise ''.
    kind text NOT NULL,
    slot smallint NOT NULL,
    n bigint NOT NULL,
    amount bigint NOT NULL,
    PRIMARY KEY (merchant_id, list, status, kind, slot)
);

-- New rows, a statement at a time (one payment and its events and jobs insert several rows):
-- one upsert per group.
CREATE FUNCTION gateway_count_inserted() RETURNS trigger
    LANGUAGE plpgsql AS $$
BEGIN
    IF TG_TABLE_NAME = 'payments' THEN
        INSERT INTO row_counts AS c (merchant_id, list, status, kind, slot, n, amount)
        SELECT merchant_id, 'payments', status, method, pg_backend_pid() % 16, count(*), sum(amount)
        FROM inserted GROUP BY merchant_id, status, method
        ON CONFLICT (merchant_id, list, status, kind, slot)
        DO UPDATE SET n = c.n + EXCLUDED.n, amount = c.amount + EXCLUDED.amount;
    ELSIF TG_TABLE_NAME = 'webhook_logs' THEN
        INSERT INTO row_counts AS c (merchant_id, list, status, kind, slot, n, amount)
        SELECT merchant_id, 'webhook_logs', status, event, pg_backend_pid() % 16, count(*), 0
        FROM inserted GROUP BY merchant_id, status, event
        ON CONFLICT (merchant_id, list, status, kind, slot) DO UPDATE SET n = c.n + EXCLUDED.n;
    ELSE  -- orders, refunds
        INSERT INTO row_counts AS c (merchant_id, list, status, kind, slot, n, amount)
        SELECT merchant_id, TG_TABLE_NAME, status, '', pg_backend_pid() % 16, count(*), 0
        FROM inserted GROUP BY merchant_id, status
        ON CONFLICT (merchant_id, list, status, kind, slot) DO UPDATE SET n = c.n + EXCLUDED.n;
    END IF;
    RETURN NULL;
END;
$$;

-- A row whose status changed (the triggers' WHEN clauses let every other update through free):
-- one count moves from the old status to the new, in one statement.
CREATE FUNCTION gateway_count_moved() RETURNS trigger
    LANGUAGE plpgsql AS $$
DECLARE
    my_slot smallint := pg_backend_pid() % 16;
BEGIN
    IF TG_TABLE_NAME = 'payments' THEN
        INSERT INTO row_counts AS c (merchant_id, list, status, kind, slot, n, amount)
        VALUES (OLD.merchant_id, 'payments', OLD.status, OLD.method, my_slot, -1, -OLD.amount),
               (NEW.merchant_id, 'payments', NEW.status, NEW.method, my_slot, 1, NEW.amount)
        ON CONFLICT (merchant_id, list, status, kind, slot)
        DO UPDATE SET n = c.n + EXCLUDED.n, amount = c.amount + EXCLUDED.amount;
    ELSIF TG_TABLE_NAME = 'webhook_logs' THEN
        INSERT INTO row_counts AS c (merchant_id, list, status, kind, slot, n, amount)
        VALUES (OLD.merchant_id, 'webhook_logs', OLD.status, OLD.event, my_slot, -1, 0),
               (NEW.merchant_id, 'webhook_logs', NEW.status, NEW.event, my_slot, 1, 0)
        ON CONFLICT (merchant_id, list, status, kind, slot) DO UPDATE SET n = c.n + EXCLUDED.n;
    ELSE  -- orders, refunds
        INSERT INTO row_counts AS c (merchant_id, list, status, kind, slot, n, amount)
        VALUES (OLD.merchant_id, TG_TABLE_NAME, OLD.status, '', my_slot, -1, 0),
               (NEW.merchant_id, TG_TABLE_NAME, NEW.status, '', my_slot, 1, 0)
        ON CONFLICT (merchant_id, list, status, kind, slot) DO UPDATE SET n = c.n + EXCLUDED.n;
    END IF;
    RETURN NULL;
END;
$$;

CREATE TRIGGER orders_counted AFTER INSERT ON orders
    REFERENCING NEW TABLE AS inserted FOR EACH STATEMENT EXECUTE FUNCTION gateway_count_inserted();
CREATE TRIGGER orders_recounted AFTER UPDATE OF status ON orders
    FOR EACH ROW WHEN (OLD.status IS DISTINCT FROM NEW.status) EXECUTE FUNCTION gateway_count_moved();
CREATE TRIGGER payments_counted AFTER INSERT ON payments
    REFERENCING NEW TABLE AS inserted FOR EACH STATEMENT EXECUTE FUNCTION gateway_count_inserted();
CREATE TRIGGER payments_recounted AFTER UPDATE OF status ON payments
    FOR EACH ROW WHEN (OLD.status IS DISTINCT FROM NEW.status) EXECUTE FUNCTION gateway_count_moved();
CREATE TRIGGER refunds_counted AFTER INSERT ON refunds
    REFERENCING NEW TABLE AS inserted FOR EACH STATEMENT EXECUTE FUNCTION gateway_count_inserted();
CREATE TRIGGER refunds_recounted AFTER UPDATE OF status ON refunds
    FOR EACH ROW WHEN (OLD.status IS DISTINCT FROM NEW.status) EXECUTE FUNCTION gateway_count_moved();
CREATE TRIGGER webhook_logs_counted AFTER INSERT ON webhook_logs
    REFERENCING NEW TABLE AS inserted FOR EACH STATEMENT EXECUTE FUNCTION gateway_count_inserted();
CREATE TRIGGER webhook_logs_recounted AFTER UPDATE OF status ON webhook_logs
    FOR EACH ROW WHEN (OLD.status IS DISTINCT FROM NEW.status) EXECUTE FUNCTION gateway_count_moved();


-- 0013: per-merchant status (and event) indexes for filtered list pages.
CREATE INDEX orders_merchant_status_created_idx
    ON orders (merchant_id, status, created_at DESC, id DESC);
CREATE INDEX payments_merchant_status_created_idx
    ON payments (merchant_id, status, created_at DESC, id DESC);
CREATE INDEX refunds_merchant_status_created_idx
    ON refunds (merchant_id, status, created_at DESC, id DESC);
CREATE INDEX webhook_logs_merchant_status_created_idx
    ON webhook_logs (merchant_id, status, created_at DESC, id DESC);
CREATE INDEX webhook_logs_merchant_event_created_idx
    ON webhook_logs (merchant_id, event, created_at DESC, id DESC);
