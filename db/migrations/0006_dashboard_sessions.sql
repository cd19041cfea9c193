-- Dashboard login sessions, stored server-side so logout and expiry are real. The cookie holds a
-- random id; only its SHA-256 is stored, so a read of this table yields no usable session.
-- Each session carries its own CSRF token, required on every dashboard form post.

CREATE TABLE dashboard_sessions (
    id_hash text PRIMARY KEY CHECK (id_hash ~ '^[0-9a-f]{64}$'),
    merchant_id uuid NOT NULL REFERENCES merchants (id) ON DELETE CASCADE,
    csrf_token text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    expires_at timestamptz NOT NULL
);

CREATE INDEX dashboard_sessions_expires_idx ON dashboard_sessions (expires_at);
CREATE INDEX dashboard_sessions_merchant_idx ON dashboard_sessions (merchant_id);
