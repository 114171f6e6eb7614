-- API instances cache the users they authenticate (role, activation, customer link) and must
-- forget one the moment it changes. NOTIFY is transactional: the message goes out when, and
-- only if, the change commits, whoever made it (the API, a script, psql).
CREATE FUNCTION notify_user_changed() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('orderflow_user_changed', OLD.id::text);
    RETURN NULL;
END
$$;

CREATE TRIGGER users_notify_changed
    AFTER UPDATE OF role, is_active, customer_id OR DELETE ON users
    FOR EACH ROW EXECUTE FUNCTION notify_user_changed();
