-- Reverts 0007_domain_verification: domains awaiting verification are
-- dropped, the verified ones kept.
BEGIN;

DELETE FROM domains WHERE verified_at IS NULL;
ALTER TABLE domains DROP CONSTRAINT domains_app_id_host_key;
DROP INDEX domains_host_key;
ALTER TABLE domains ADD CONSTRAINT domains_host_key UNIQUE (host);
ALTER TABLE domains DROP COLUMN verified_at, DROP COLUMN verify_token;

COMMIT;
