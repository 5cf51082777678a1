-- Reverts 0005_invitations: pending invitations are lost.
BEGIN;

DROP TABLE IF EXISTS invitations;

COMMIT;
