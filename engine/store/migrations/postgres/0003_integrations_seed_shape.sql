-- The integrations list answers the seed's shape: the external id (the installation id) in
-- integration_id, the kind in integration_type, and a display name (the account's login).
ALTER TABLE integrations ADD COLUMN integration_type TEXT NOT NULL DEFAULT 'github_app';
ALTER TABLE integrations ADD COLUMN name TEXT;
