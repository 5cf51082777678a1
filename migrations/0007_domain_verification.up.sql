-- 0007_domain_verification: a custom domain is routed only once its owner
-- has shown they hold it, with a DNS TXT record of the token the platform
-- gave (or when the platform does not ask, verified at once). Several
-- apps may claim a host while none has verified it, so that nobody blocks
-- a domain by claiming it first; one verified app holds it.
BEGIN;

ALTER TABLE domains
    ADD COLUMN verify_token text NOT NULL DEFAULT ''
        CONSTRAINT domains_verify_token_check CHECK (length(verify_token) <= 100),
    ADD COLUMN verified_at timestamptz;

-- Domains added before this were routed at once.
UPDATE domains SET verified_at = created_at;

ALTER TABLE domains DROP CONSTRAINT domains_host_key;
CREATE UNIQUE INDEX domains_host_key ON domains (host) WHERE verified_at IS NOT NULL;
ALTER TABLE domains ADD CONSTRAINT domains_app_id_host_key UNIQUE (app_id, host);

COMMIT;
