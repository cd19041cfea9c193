-- Payments and the events they cause. An event row holds the exact webhook body bytes, so every
-- delivery attempt (and a manual retry) sends, and signs, the same bytes.

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
    CONSTRAINT payments_method_details CHECK (
        (method = 'upi' AND vpa IS NOT NULL AND card_last4 IS NULL)
        OR (method = 'card' AND vpa IS NULL AND card_last4 IS NOT NULL)
    ),
    CONSTRAINT payments_refund_bound CHECK (amount_refunded BETWEEN 0 AND amount),
    CONSTRAINT payments_captured_success CHECK (NOT captured OR status = 'success')
);

CREATE INDEX payments_order_idx ON payments (order_id);
CREATE INDEX payments_status_idx ON payments (status);
CREATE INDEX payments_merchant_created_idx ON payments (merchant_id, created_at DESC, id DESC);

CREATE TABLE events (
    id text PRIMARY KEY CHECK (id ~ '^evt_[A-Za-z0-9]{16}$'),
    merchant_id uuid NOT NULL REFERENCES merchants (id),
    type text NOT NULL,
    resource_id text NOT NULL,
    payload text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT clock_timestamp()
);

CREATE INDEX events_resource_idx ON events (resource_id, created_at);
CREATE INDEX events_merchant_created_idx ON events (merchant_id, created_at DESC);
