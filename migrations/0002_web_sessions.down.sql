-- Reverts 0002_web_sessions: every dashboard session ends.
BEGIN;

DROP TABLE IF EXISTS web_sessions;

COMMIT;
