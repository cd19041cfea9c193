-- Merchants and their orders.

CREATE TABLE merchants (
    id uuid PRIMARY KEY,
    name text NOT NULL CHECK (length(name) BETWEEN 1 AND 255),
    email text NOT NULL UNIQUE CHECK (length(email) BETWEEN 3 AND 255),
    api_key text NOT NULL UNIQUE,
    api_secret text NOT NULL,
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
    amount bigint NOT NULL CHECK (amount >= 100),
    currency text NOT NULL DEFAULT 'INR' CHECK (currency = 'INR'),
    receipt text CHECK (length(receipt) <= 255),
    notes jsonb NOT NULL DEFAULT '{}'::jsonb CHECK (jsonb_typeof(notes) = 'object'),
    status text NOT NULL DEFAULT 'created' CHECK (status IN ('created', 'paid')),
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX orders_merchant_created_idx ON orders (merchant_id, created_at DESC, id DESC);
