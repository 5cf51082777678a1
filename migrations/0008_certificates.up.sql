-- 0008_certificates: HTTPS for apps. An app's owner may upload
-- certificates (with their private keys, sealed like config values) for
-- its custom domains; the router serves them. Each app also says whether
-- plain HTTP is redirected to HTTPS once a host has a certificate, and
-- whether HTTPS responses carry HSTS.
BEGIN;

CREATE TABLE certificates (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    app_id       bigint NOT NULL REFERENCES apps (id) ON DELETE CASCADE,
    -- The leaf first, then its chain, as PEM.
    chain_pem    text NOT NULL CONSTRAINT certificates_chain_pem_check CHECK (length(chain_pem) <= 65536),
    -- The private key, sealed with the store's key and bound to the app
    -- and fingerprint.
    key_sealed   bytea NOT NULL,
    -- SHA-256 of the leaf's DER, hex.
    fingerprint  text NOT NULL CONSTRAINT certificates_fingerprint_check CHECK (fingerprint ~ '^[0-9a-f]{64}$'),
    -- The DNS names the leaf covers, lower case ("*.example.com" for a
    -- wildcard).
    hosts        text[] NOT NULL,
    issuer       text NOT NULL,
    not_before   timestamptz NOT NULL,
    not_after    timestamptz NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT certificates_app_id_fingerprint_key UNIQUE (app_id, fingerprint)
);
CREATE INDEX certificates_app_id_idx ON certificates (app_id, id);

ALTER TABLE apps
    -- Plain HTTP to a host with a certificate is redirected to HTTPS.
    ADD COLUMN https_redirect boolean NOT NULL DEFAULT true,
    -- Strict-Transport-Security max-age in seconds; 0 sends none.
    ADD COLUMN hsts_max_age integer NOT NULL DEFAULT 0
        CONSTRAINT apps_hsts_max_age_check CHECK (hsts_max_age >= 0 AND hsts_max_age <= 63072000),
    ADD COLUMN hsts_include_subdomains boolean NOT NULL DEFAULT false;

COMMIT;
