-- Reverts 0006_user_deactivation: deactivated users are active again.
BEGIN;

ALTER TABLE users DROP COLUMN deactivated_at;

COMMIT;
