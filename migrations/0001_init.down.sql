-- Reverts 0001_init: drops every table of the first schema and its data.
BEGIN;

DROP TABLE IF EXISTS audit_events;
DROP TABLE IF EXISTS deploy_locks;
DROP TABLE IF EXISTS domains;
DROP TABLE IF EXISTS formation;
DROP TABLE IF EXISTS config_vars;
DROP TABLE IF EXISTS releases;
DROP FUNCTION IF EXISTS releases_immutable();
DROP TABLE IF EXISTS builds;
DROP TABLE IF EXISTS apps;
DROP TABLE IF EXISTS api_tokens;
DROP TABLE IF EXISTS ssh_keys;
DROP TABLE IF EXISTS memberships;
DROP TABLE IF EXISTS users;
DROP TABLE IF EXISTS tenants;

COMMIT;
