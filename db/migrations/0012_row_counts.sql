-- Exact list totals and dashboard stats without counting rows.
--
-- A list's `total` was count(*) OVER () of the merchant's whole table (0.3-0.6 s at a million
-- payments) and the dashboard's stats aggregated the whole payments table.
-- Instead, triggers keep counts in the same transaction as the rows they count: by merchant,
-- list, status and one more dimension (a payment's method, a delivery's event), with the sum of
-- amounts for payments. A total is then a sum over a handful of counter rows, exact.
--
-- procrastinate_jobs is not counted: every job would pay three counter upserts (insert, doing,
-- done) for the demo-only /api/v1/test/jobs/status, which production does not serve.
--
-- Counter rows are split into slots by backend (pg_backend_pid() % 16), so concurrent
-- transactions of one merchant, on different connections, update different rows instead of
-- queueing on one; a reader sums the slots.

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

-- No write may slip between the backfill below and the triggers taking effect.
LOCK TABLE orders, payments, refunds, webhook_logs IN SHARE ROW EXCLUSIVE MODE;

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

-- What exists already, in slot 0.
INSERT INTO row_counts (merchant_id, list, status, kind, slot, n, amount)
SELECT merchant_id, 'orders', status, '', 0, count(*), 0 FROM orders GROUP BY 1, 3
UNION ALL
SELECT merchant_id, 'payments', status, method, 0, count(*), sum(amount) FROM payments GROUP BY 1, 3, 4
UNION ALL
SELECT merchant_id, 'refunds', status, '', 0, count(*), 0 FROM refunds GROUP BY 1, 3
UNION ALL
SELECT merchant_id, 'webhook_logs', status, event, 0, count(*), 0 FROM webhook_logs GROUP BY 1, 3, 4;
