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
    api_secret text NOT NULL,
    -- scrypt$<salt b64>$<digest b64>; NULL = no dashboard password set.
    password_hash text,
    webhook_url text,
    webhook_secret text NOT NULL,
    is_active boolean NOT NULL DEFAULT true,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
);

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
    updated_at timestamptz NOT NULL DEFAULT now()
);

-- Merchant-scoped lists, newest first, with a stable tiebreak.
CREATE INDEX orders_merchant_created_idx ON orders (merchant_id, created_at DESC, id DESC);
