-- A list filtered by status (or by a delivery's event) reads its page from an index of the
-- merchant's rows with that value, newest first, instead of walking all the merchant's rows and
-- skipping the others: `?status=pending` among a million settled payments no longer reads a
-- million index entries to find none. They replace the global status indexes, which no query
-- used once lists were scoped to a merchant.

DROP INDEX payments_status_idx;
DROP INDEX webhook_logs_status_idx;
-- With the id as its last column, like the other tables' (the tie-breaker of newest-first), so a
-- deep page's offset walk is an index-only scan.
DROP INDEX webhook_logs_merchant_created_idx;
CREATE INDEX webhook_logs_merchant_created_idx
    ON webhook_logs (merchant_id, created_at DESC, id DESC);

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
