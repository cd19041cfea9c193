-- The Razorpay-compatible surface (/v1): the same merchants and rows, with what Razorpay's
-- entities and webhooks carry that the classic API had no place for. Every new column has a
-- default that keeps existing rows and the classic paths exactly as they were.

-- The webhook body a merchant receives: the classic one (whose bytes never change) or Razorpay's
-- event envelope with X-Razorpay-Signature. Read by the outbox at emission time.
ALTER TABLE merchants ADD COLUMN webhook_format text NOT NULL DEFAULT 'classic'
    CHECK (webhook_format IN ('classic', 'razorpay'));

-- Orders created through /v1 say whether a successful payment is captured at once (true) or
-- stays authorized until a capture call (false). NULL: a classic order, whose payments stay
-- uncaptured until the classic capture, as before.
ALTER TABLE orders ADD COLUMN payment_capture boolean;

-- A payment's notes (PATCH /v1/payments/{id}). NULL = none: nothing is stored per row on the
-- hot insert path until a merchant writes some.
ALTER TABLE payments ADD COLUMN notes jsonb CHECK (jsonb_typeof(notes) = 'object');

-- Razorpay's refund fields: notes, a receipt, and the speed asked for (processing is always
-- normal speed here, so speed_processed needs no column).
ALTER TABLE refunds ADD COLUMN notes jsonb NOT NULL DEFAULT '{}'::jsonb
    CHECK (jsonb_typeof(notes) = 'object');
ALTER TABLE refunds ADD COLUMN receipt text CHECK (length(receipt) <= 255);
ALTER TABLE refunds ADD COLUMN speed_requested text NOT NULL DEFAULT 'normal'
    CHECK (speed_requested IN ('normal', 'optimum'));

-- Which body an event row and its delivery log carry. The two formats share event names
-- (refund.created, payment.failed), and a delivery's headers depend on its format: a log keeps
-- the format it was emitted in even if the merchant switches afterwards.
ALTER TABLE events ADD COLUMN format text NOT NULL DEFAULT 'classic'
    CHECK (format IN ('classic', 'razorpay'));
ALTER TABLE webhook_logs ADD COLUMN format text NOT NULL DEFAULT 'classic'
    CHECK (format IN ('classic', 'razorpay'));
