-- Reverts 0009_backend_protocol: every app is proxied over HTTP/1.1 again.
BEGIN;

ALTER TABLE apps DROP COLUMN backend_protocol;

COMMIT;
