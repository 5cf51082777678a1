BEGIN;

ALTER TABLE formation DROP COLUMN health_path;

COMMIT;
