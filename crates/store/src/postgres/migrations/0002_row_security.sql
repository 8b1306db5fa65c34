-- Row-level security: reads made for one organisation run as the role
-- spendlens_reader with `spendlens.org` set to its internal id (postgres/scope.rs),
-- and these policies let that role see that organisation's rows only, so a
-- query whose own `org = …` filter were missing still reads nothing foreign.
-- Writes run as the connecting role (the owner), which the policies do not
-- restrict. Global dictionaries (users, models, providers) carry no org.
-- Roles belong to the cluster, not the database: several databases (or
-- several servers migrating at once) may race to create it.
DO $$
BEGIN
    CREATE ROLE spendlens_reader NOLOGIN;
EXCEPTION WHEN OTHERS THEN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'spendlens_reader') THEN RAISE; END IF;
END $$;
-- The connecting role must be able to SET ROLE to it (a superuser already can).
DO $$
BEGIN
    IF NOT pg_has_role(current_user, 'spendlens_reader', 'MEMBER') THEN
        EXECUTE format('GRANT spendlens_reader TO %I', current_user);
    END IF;
EXCEPTION WHEN OTHERS THEN
    IF NOT pg_has_role(current_user, 'spendlens_reader', 'MEMBER') THEN RAISE; END IF;
END $$;

GRANT USAGE ON SCHEMA public TO spendlens_reader;
GRANT SELECT ON ALL TABLES IN SCHEMA public TO spendlens_reader;
ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT SELECT ON TABLES TO spendlens_reader;

DO $$
DECLARE t TEXT;
BEGIN
    FOREACH t IN ARRAY ARRAY['org_timezones', 'teams', 'departments', 'api_keys', 'members',
        'audit', 'org_prices', 'event_keys', 'events', 'conversations', 'cube', 'budgets',
        'alerts', 'webhook_deliveries', 'spend_days', 'org_days']
    LOOP
        EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', t);
        EXECUTE format(
            'CREATE POLICY one_org ON %I FOR SELECT TO spendlens_reader
             USING (org = current_setting(''spendlens.org'')::bigint)', t);
    END LOOP;
END $$;
ALTER TABLE orgs ENABLE ROW LEVEL SECURITY;
CREATE POLICY one_org ON orgs FOR SELECT TO spendlens_reader
    USING (id = current_setting('spendlens.org')::bigint);
