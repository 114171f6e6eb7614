DROP TRIGGER IF EXISTS users_notify_changed ON users;
DROP FUNCTION IF EXISTS notify_user_changed();
