-- Verbatim copy of ../shared/bench/ceiling.sql, the ceiling this project measures itself against;
-- bench/ceiling.py runs it (and ceiling-setup.sql) in a scratch database of the same server.
-- The raw PostgreSQL ceiling for a durable create-payment: one transaction that inserts a payment-like
-- row and a job-like row. Run with pgbench against the same server the gateway uses, in the same run as
-- the gateway's own measurement (this machine is shared and noisy; only same-run ratios mean anything):
--   psql "$DB" -f ceiling-setup.sql
--   pgbench "$DB" -n -c 8 -j 2 -T 12 -f ceiling.sql
BEGIN;
INSERT INTO bench_ceiling.payments (id, merchant_id, order_id, amount, currency, method, status, vpa)
  VALUES ('pay_' || md5(random()::text), '550e8400-e29b-41d4-a716-446655440000', 'order_x', 50000, 'INR', 'upi', 'pending', 'user@paytm');
INSERT INTO bench_ceiling.jobs (queue, task, args, scheduled_at)
  VALUES ('payments', 'process_payment', '{"payment_id":"x"}', now() + interval '5 seconds');
COMMIT;
