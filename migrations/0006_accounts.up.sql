-- Accounts you can trust: verified email addresses, single-use account tokens (email
-- verification, password reset, unlock links), sessions that end, and the client's own
-- correlation id beside the server's request id on audit rows.

-- Self-registered users verify their address before any email but the verification goes to
-- it. Users that existed before count as verified (they were created by admins, or registered
-- when no verification was asked).
ALTER TABLE users ADD COLUMN email_verified_at TIMESTAMPTZ;
UPDATE users SET email_verified_at = created_at;

-- Only the SHA-256 of a token is stored; the token itself exists in the email alone.
CREATE TABLE account_tokens (
    token_hash  BYTEA       PRIMARY KEY,
    user_id     BIGINT      NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    purpose     TEXT        NOT NULL CHECK (purpose IN ('verify_email', 'reset_password', 'unlock')),
    expires_at  TIMESTAMPTZ NOT NULL,
    used_at     TIMESTAMPTZ,
    created_at  TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX account_tokens_user_idx ON account_tokens (user_id, purpose);
CREATE INDEX account_tokens_expires_idx ON account_tokens (expires_at);

-- A session is one login: its id is the `sid` claim of every access token and the family of
-- its refresh tokens. It ends when revoked (logout, logout-all, a password change or reset,
-- deactivation) or at `expires_at` (`SESSION_MAX_SECONDS` after the login), whatever the
-- refreshes.
CREATE TABLE sessions (
    id          UUID        PRIMARY KEY,
    user_id     BIGINT      NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
    expires_at  TIMESTAMPTZ NOT NULL,
    revoked_at  TIMESTAMPTZ
);
CREATE INDEX sessions_live_idx ON sessions (user_id) WHERE revoked_at IS NULL;
CREATE INDEX sessions_expires_idx ON sessions (expires_at);

-- Logins in progress keep their refresh tokens: each live family becomes a session that ends
-- 30 days after its first token.
INSERT INTO sessions (id, user_id, created_at, expires_at)
SELECT family_id, min(user_id), min(created_at), min(created_at) + interval '30 days'
FROM refresh_tokens
WHERE revoked_at IS NULL AND expires_at > now()
GROUP BY family_id;

-- A revoked session must be refused by every API instance at once: the user cache forgets
-- the user when one of its sessions ends (sessions that start need no notice: an unknown
-- session id is looked up).
CREATE FUNCTION notify_session_changed() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('orderflow_user_changed', OLD.user_id::text);
    RETURN NULL;
END
$$;

CREATE TRIGGER sessions_notify_changed
    AFTER UPDATE OF revoked_at, expires_at OR DELETE ON sessions
    FOR EACH ROW EXECUTE FUNCTION notify_session_changed();

-- The server's request id stays the audit row's `request_id`; what a client sent as
-- `X-Request-Id` is kept beside it, as its own correlation id.
ALTER TABLE audit_log ADD COLUMN client_request_id TEXT;
