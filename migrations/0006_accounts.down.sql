ALTER TABLE audit_log DROP COLUMN client_request_id;
DROP TRIGGER sessions_notify_changed ON sessions;
DROP FUNCTION notify_session_changed();
DROP TABLE sessions;
DROP TABLE account_tokens;
ALTER TABLE users DROP COLUMN email_verified_at;
