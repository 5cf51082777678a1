BEGIN;

ALTER TABLE releases DROP COLUMN release_command;

COMMIT;
