-- 0002_web_sessions: the dashboard's signed-in browsers.
--
-- A session is a random secret in an HttpOnly cookie; only its SHA-256 is
-- stored, as for API tokens. The CSRF token is not a credential on its own
-- (it is useless without the cookie) and is kept as is, so the server can
-- compare it with what the page sends.

BEGIN;

CREATE TABLE web_sessions (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id      bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    -- The API token the user signed in with, if they did: revoking it ends
    -- the session. NULL for a password sign-in.
    token_id     bigint REFERENCES api_tokens (id) ON DELETE CASCADE,
    -- SHA-256 of the session secret; the secret itself is never stored.
    session_hash bytea NOT NULL CHECK (length(session_hash) = 32),
    csrf_token   text NOT NULL CHECK (length(csrf_token) BETWEEN 32 AND 128),
    created_at   timestamptz NOT NULL DEFAULT now(),
    expires_at   timestamptz NOT NULL,
    last_seen_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT web_sessions_session_hash_key UNIQUE (session_hash),
    CONSTRAINT web_sessions_expires_at_check CHECK (expires_at > created_at)
);
CREATE INDEX web_sessions_user_id_idx ON web_sessions (user_id);
CREATE INDEX web_sessions_token_id_idx ON web_sessions (token_id) WHERE token_id IS NOT NULL;
CREATE INDEX web_sessions_expires_at_idx ON web_sessions (expires_at);

COMMIT;
