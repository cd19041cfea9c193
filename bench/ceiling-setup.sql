-- Verbatim copy of ../shared/bench/ceiling-setup.sql (see ceiling.sql).
DROP SCHEMA IF EXISTS bench_ceiling CASCADE;
CREATE SCHEMA bench_ceiling;
CREATE TABLE bench_ceiling.payments (id text primary key, merchant_id uuid not null, order_id text not null,
  amount bigint not null, currency text not null, method text not null, status text not null, vpa text,
  created_at timestamptz not null default now(), updated_at timestamptz not null default now());
CREATE INDEX ON bench_ceiling.payments (merchant_id, created_at);
CREATE TABLE bench_ceiling.jobs (id bigserial primary key, queue text, task text, args jsonb,
  status text default 'todo', scheduled_at timestamptz);
CREATE INDEX ON bench_ceiling.jobs (status, queue, id);
