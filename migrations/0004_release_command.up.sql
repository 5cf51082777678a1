-- 0004_release_command: the command a release runs before its processes
-- start (the Procfile's release: type), kept with the release so that a
-- config change or a rollback made from it runs it again, as a deploy does.
-- Empty for none, and for releases made before this column.
BEGIN;

ALTER TABLE releases
    ADD COLUMN release_command text NOT NULL DEFAULT ''
    CONSTRAINT releases_release_command_check CHECK (length(release_command) <= 4096);

COMMIT;
