-- Reverts 0008_certificates: uploaded certificates and the apps' HTTPS
-- settings are dropped.
BEGIN;

ALTER TABLE apps DROP COLUMN hsts_include_subdomains, DROP COLUMN hsts_max_age, DROP COLUMN https_redirect;
DROP TABLE certificates;

COMMIT;
