-- 0006_user_deactivation: an admin deactivates a user. From then on none of
-- the user's credentials (API tokens, dashboard sessions, SSH keys, the
-- password) signs in, until an admin reactivates them; the credentials are
-- kept, so a reactivated user signs in as before. NULL means active.
BEGIN;

ALTER TABLE users ADD COLUMN deactivated_at timestamptz;

COMMIT;
