-- 0009_backend_protocol: how the router talks to an app's web processes:
-- HTTP/1.1, or HTTP/2 without TLS (h2c) for gRPC servers.
BEGIN;

ALTER TABLE apps ADD COLUMN backend_protocol text NOT NULL DEFAULT 'http1'
    CONSTRAINT apps_backend_protocol_check CHECK (backend_protocol IN ('http1', 'h2c'));

COMMIT;
