-- Servers keep the tokens they look up for a few seconds (token_cache.rs)
-- and forget them all when this channel is notified: by every statement
-- that may change what a token lets in, whoever runs it. Recording a
-- token's last use changes none of these columns and notifies no one.
CREATE FUNCTION spendlens_tokens_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('spendlens_tokens', '');
    RETURN NULL;
END
$$;

CREATE TRIGGER tokens_changed
    AFTER UPDATE OF secret_hash, role, org, team_ext, user_ext, expires_at, revoked_at
        OR DELETE OR TRUNCATE ON tokens
    FOR EACH STATEMENT EXECUTE FUNCTION spendlens_tokens_changed();
