-- 0005_invitations: a tenant owner's invitation of an e-mail address that
-- has no account yet. The invitee accepts it once an admin has made their
-- account and they sign in as that address; nothing is handed to the owner
-- who invited. A row is a pending invitation: accepting, declining or
-- revoking it deletes it (the audit log keeps the history), and one past
-- expires_at counts as gone.

BEGIN;

CREATE TABLE invitations (
    id               bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    tenant_id        bigint NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    email            text NOT NULL
                     CONSTRAINT invitations_email_check CHECK (length(email) <= 254 AND email ~ '^[^@[:space:]]+@[^@[:space:]]+$'),
    role             text NOT NULL CHECK (role IN ('owner', 'member', 'viewer')),
    invited_by_id    bigint REFERENCES users (id) ON DELETE SET NULL,
    invited_by_email text NOT NULL DEFAULT '',
    created_at       timestamptz NOT NULL DEFAULT now(),
    expires_at       timestamptz NOT NULL,
    CONSTRAINT invitations_expires_at_check CHECK (expires_at > created_at)
);
-- One invitation per address and tenant, in any case.
CREATE UNIQUE INDEX invitations_tenant_email_key ON invitations (tenant_id, lower(email));
CREATE INDEX invitations_email_idx ON invitations (lower(email));

COMMIT;
