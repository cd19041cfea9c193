-- Dashboard login throttling: failed-login counters per client address, per account (the email
-- as typed, registered or not) and per trusted device. In PostgreSQL, not Redis, so the limit
-- holds across processes and with Redis down. Buckets are keyed by an HMAC of what they count,
-- so the table holds no email, address or password typed into the email field.

CREATE TABLE login_attempts (
    bucket text PRIMARY KEY CHECK (bucket ~ '^(address|account|device):[0-9a-f]{64}$'),
    -- Attempts charged in the current run of failures (a successful login refunds its own).
    failures integer NOT NULL DEFAULT 0 CHECK (failures >= 0),
    -- No attempt is checked before this time (a growing delay once `failures` passes the free ones).
    blocked_until timestamptz,
    -- After this the run is forgotten: the counter starts again and housekeeping may delete the row.
    expires_at timestamptz NOT NULL
);

CREATE INDEX login_attempts_expires_idx ON login_attempts (expires_at);
