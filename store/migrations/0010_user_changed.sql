-- Every API replica caches user rows for a few seconds (api/usercache.py). A change to what
-- that cache holds (the tier after a payment or `hmmtrade users set-tier`, a session burn,
-- an email or password change, a deleted account) is announced on the `user_changed` channel
-- with the user's id, whichever path made it (API, billing worker, CLI, an operator's SQL),
-- and each replica drops its copy at once. NOTIFY is sent on commit; a rolled-back change
-- announces nothing.

CREATE FUNCTION notify_user_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('user_changed', OLD.id::text);
    RETURN NULL;
END
$$;

CREATE TRIGGER users_changed
    AFTER UPDATE ON users
    FOR EACH ROW
    WHEN (
        OLD.tier IS DISTINCT FROM NEW.tier
        OR OLD.tokens_valid_after IS DISTINCT FROM NEW.tokens_valid_after
        OR OLD.email IS DISTINCT FROM NEW.email
        OR OLD.password_hash IS DISTINCT FROM NEW.password_hash
        OR OLD.id IS DISTINCT FROM NEW.id
    )
    EXECUTE FUNCTION notify_user_changed();

CREATE TRIGGER users_deleted
    AFTER DELETE ON users
    FOR EACH ROW
    EXECUTE FUNCTION notify_user_changed();
