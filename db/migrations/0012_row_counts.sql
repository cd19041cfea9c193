-- Exact list totals, dashboard stats and job counts without counting rows.
--
-- A list's `total` was count(*) OVER () of the merchant's whole table (0.3-0.6 s at a million
-- payments) and the dashboard's stats and /api/v1/test/jobs/status aggregated whole tables.
-- Instead, triggers keep counts in the same transaction as the rows they count: by merchant,
-- list, status and one more dimension (a payment's method, a delivery's event), with the sum of
-- amounts for payments. A total is then a sum over a handful of counter rows, exact.
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

CREATE TABLE job_counts (
    status text NOT NULL,
    slot smallint NOT NULL,
    n bigint NOT NULL,
    PRIMARY KEY (status, slot)
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
    ELSIF TG_TABLE_NAME = 'procrastinate_jobs' THEN
        INSERT INTO job_counts AS c (status, slot, n)
        SELECT status::text, pg_backend_pid() % 16, count(*) FROM inserted GROUP BY status
        ON CONFLICT (status, slot) DO UPDATE SET n = c.n + EXCLUDED.n;
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
    IF TG_TABLE_NAME = 'procrastinate_jobs' THEN
        INSERT INTO job_counts AS c (status, slot, n)
        VALUES (OLD.status::text, my_slot, -1), (NEW.status::text, my_slot, 1)
        ON CONFLICT (status, slot) DO UPDATE SET n = c.n + EXCLUDED.n;
    ELSIF TG_TABLE_NAME = 'payments' THEN
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

-- Deleted jobs (procrastinate's pruning deletes thousands at once): one upsert per status.
CREATE FUNCTION gateway_count_deleted_jobs() RETURNS trigger
    LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO job_counts AS c (status, slot, n)
    SELECT status::text, pg_backend_pid() % 16, -count(*) FROM deleted GROUP BY status
    ON CONFLICT (status, slot) DO UPDATE SET n = c.n + EXCLUDED.n;
    RETURN NULL;
END;
$$;

-- No write may slip between the backfill below and the triggers taking effect.
LOCK TABLE orders, payments, refunds, webhook_logs, procrastinate_jobs IN SHARE ROW EXCLUSIVE MODE;

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
CREATE TRIGGER procrastinate_jobs_counted AFTER INSERT ON procrastinate_jobs
    REFERENCING NEW TABLE AS inserted FOR EACH STATEMENT EXECUTE FUNCTION gateway_count_inserted();
CREATE TRIGGER procrastinate_jobs_recounted AFTER UPDATE OF status ON procrastinate_jobs
    FOR EACH ROW WHEN (OLD.status IS DISTINCT FROM NEW.status) EXECUTE FUNCTION gateway_count_moved();
CREATE TRIGGER procrastinate_jobs_uncounted AFTER DELETE ON procrastinate_jobs
    REFERENCING OLD TABLE AS deleted FOR EACH STATEMENT EXECUTE FUNCTION gateway_count_deleted_jobs();

-- What exists already, in slot 0.
INSERT INTO row_counts (merchant_id, list, status, kind, slot, n, amount)
SELECT merchant_id, 'orders', status, '', 0, count(*), 0 FROM orders GROUP BY 1, 3
UNION ALL
SELECT merchant_id, 'payments', status, method, 0, count(*), sum(amount) FROM payments GROUP BY 1, 3, 4
UNION ALL
SELECT merchant_id, 'refunds', status, '', 0, count(*), 0 FROM refunds GROUP BY 1, 3
UNION ALL
SELECT merchant_id, 'webhook_logs', status, event, 0, count(*), 0 FROM webhook_logs GROUP BY 1, 3, 4;
INSERT INTO job_counts (status, slot, n)
SELECT status::text, 0, count(*) FROM procrastinate_jobs GROUP BY 1;
