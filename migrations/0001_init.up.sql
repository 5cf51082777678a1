-- 0001_init: the platform's first schema.
--
-- Conventions: bigint identity ids, timestamptz, enums as text with CHECK,
-- names validated here as well as in Go (Go gives the friendly message, the
-- CHECK keeps the data right whoever writes it). Rows an app or a tenant owns
-- go away with it (ON DELETE CASCADE); history that must outlive its subject
-- (audit events, release authors) keeps a text snapshot and a nullable id.

BEGIN;

CREATE TABLE tenants (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    -- A DNS label, at most 40 characters so that a namespace prefix fits.
    name          text NOT NULL
                  CONSTRAINT tenants_name_check CHECK (name ~ '^[a-z]([a-z0-9-]{0,38}[a-z0-9])?$'),
    max_apps      integer NOT NULL CHECK (max_apps >= 0),
    max_processes integer NOT NULL CHECK (max_processes >= 0),
    max_size      text NOT NULL CHECK (max_size IN ('small', 'standard', 'large')),
    suspended_at  timestamptz,
    created_at    timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT tenants_name_key UNIQUE (name)
);

CREATE TABLE users (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    email         text NOT NULL
                  CONSTRAINT users_email_check CHECK (length(email) <= 254 AND email ~ '^[^@[:space:]]+@[^@[:space:]]+$'),
    is_admin      boolean NOT NULL DEFAULT false,
    -- Filled by the password feature; NULL means the user cannot log in with
    -- a password.
    password_hash text,
    created_at    timestamptz NOT NULL DEFAULT now()
);
-- E-mail addresses are unique regardless of case.
CREATE UNIQUE INDEX users_email_key ON users (lower(email));
CREATE INDEX users_is_admin_idx ON users (id) WHERE is_admin;

CREATE TABLE memberships (
    tenant_id  bigint NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    user_id    bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    -- The platform-wide admin role is users.is_admin, never a membership.
    role       text NOT NULL CHECK (role IN ('owner', 'member', 'viewer')),
    created_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT memberships_pkey PRIMARY KEY (tenant_id, user_id)
);
CREATE INDEX memberships_user_id_idx ON memberships (user_id);

CREATE TABLE ssh_keys (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id     bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name        text NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
    -- One authorized_keys line without options: "<type> <base64> [comment]".
    public_key  text NOT NULL CHECK (length(public_key) BETWEEN 1 AND 16384),
    -- OpenSSH's SHA256 fingerprint: unpadded base64 of the key blob's digest.
    fingerprint text NOT NULL CHECK (fingerprint ~ '^SHA256:[A-Za-z0-9+/]{43}$'),
    created_at  timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT ssh_keys_fingerprint_key UNIQUE (fingerprint),
    CONSTRAINT ssh_keys_user_id_name_key UNIQUE (user_id, name)
);

CREATE TABLE api_tokens (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id      bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name         text NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
    -- SHA-256 of the token; the token itself is never stored.
    token_hash   bytea NOT NULL CHECK (length(token_hash) = 32),
    expires_at   timestamptz,
    last_used_at timestamptz,
    created_at   timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT api_tokens_token_hash_key UNIQUE (token_hash)
);
CREATE INDEX api_tokens_user_id_idx ON api_tokens (user_id);

CREATE TABLE apps (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    tenant_id       bigint NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    -- A DNS label of at most 30 characters so that "<app>-<process type>"
    -- stays a valid Kubernetes name; unique because it is a host name.
    name            text NOT NULL
                    CONSTRAINT apps_name_check CHECK (name ~ '^[a-z]([a-z0-9-]{0,28}[a-z0-9])?$'),
    -- The last release version handed out. Incrementing it inside the
    -- release's transaction locks this row, which serialises writers; a
    -- rollback gives the number back, so versions have no gaps.
    release_counter integer NOT NULL DEFAULT 0 CHECK (release_counter >= 0),
    created_at      timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT apps_name_key UNIQUE (name)
);
CREATE INDEX apps_tenant_id_idx ON apps (tenant_id, id);

CREATE TABLE builds (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    app_id       bigint NOT NULL REFERENCES apps (id) ON DELETE CASCADE,
    commit_sha   text NOT NULL CHECK (commit_sha ~ '^[0-9a-f]{40}([0-9a-f]{24})?$'),
    user_id      bigint REFERENCES users (id) ON DELETE SET NULL,
    user_email   text NOT NULL DEFAULT '',
    status       text NOT NULL DEFAULT 'pending'
                 CHECK (status IN ('pending', 'running', 'succeeded', 'failed', 'cancelled')),
    stack        text NOT NULL DEFAULT '',
    image_ref    text NOT NULL DEFAULT '',
    image_digest text NOT NULL DEFAULT ''
                 CHECK (image_digest = '' OR image_digest ~ '^sha256:[0-9a-f]{64}$'),
    log          text NOT NULL DEFAULT '',
    error        text NOT NULL DEFAULT '',
    created_at   timestamptz NOT NULL DEFAULT now(),
    started_at   timestamptz,
    finished_at  timestamptz,
    -- A succeeded build has an image; a finished build has a finish time.
    CONSTRAINT builds_succeeded_image_check
        CHECK (status <> 'succeeded' OR (image_digest <> '' AND image_ref <> '')),
    CONSTRAINT builds_finished_at_check
        CHECK ((status IN ('pending', 'running')) = (finished_at IS NULL))
);
CREATE INDEX builds_app_id_idx ON builds (app_id, id DESC);

CREATE TABLE releases (
    id             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    app_id         bigint NOT NULL REFERENCES apps (id) ON DELETE CASCADE,
    version        integer NOT NULL CHECK (version > 0),
    build_id       bigint REFERENCES builds (id) ON DELETE SET NULL,
    -- Empty for a release made before the app's first build (a config change).
    image_ref      text NOT NULL DEFAULT '',
    image_digest   text NOT NULL DEFAULT ''
                   CHECK (image_digest = '' OR image_digest ~ '^sha256:[0-9a-f]{64}$'),
    -- The config vars of this release: a JSON object encrypted with
    -- AES-256-GCM, bound to (app_id, version). Never plaintext.
    config         bytea NOT NULL,
    -- process type -> {"quantity", "size", "command"}
    formation      jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(formation) = 'object'),
    commit_sha     text NOT NULL DEFAULT '',
    description    text NOT NULL CHECK (length(description) BETWEEN 1 AND 500),
    author_user_id bigint REFERENCES users (id) ON DELETE SET NULL,
    author_email   text NOT NULL DEFAULT '',
    status         text NOT NULL DEFAULT 'pending'
                   CHECK (status IN ('pending', 'deploying', 'succeeded', 'failed')),
    status_reason  text NOT NULL DEFAULT '',
    created_at     timestamptz NOT NULL DEFAULT now(),
    finished_at    timestamptz,
    CONSTRAINT releases_app_id_version_key UNIQUE (app_id, version),
    CONSTRAINT releases_image_check CHECK ((image_ref = '') = (image_digest = '')),
    CONSTRAINT releases_finished_at_check
        CHECK ((status IN ('pending', 'deploying')) = (finished_at IS NULL))
);
CREATE INDEX releases_succeeded_idx ON releases (app_id, version DESC) WHERE status = 'succeeded';
CREATE INDEX releases_build_id_idx ON releases (build_id) WHERE build_id IS NOT NULL;

-- A release is immutable except for its outcome. The comparison is over the
-- whole row minus the mutable columns, so a column added later is immutable
-- unless it is added to the list. build_id and author_user_id may only become
-- NULL, which is what ON DELETE SET NULL does.
CREATE FUNCTION releases_immutable() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    mutable CONSTANT text[] := ARRAY['status', 'status_reason', 'finished_at', 'build_id', 'author_user_id'];
BEGIN
    IF (to_jsonb(NEW) - mutable) IS DISTINCT FROM (to_jsonb(OLD) - mutable)
       OR (NEW.build_id IS DISTINCT FROM OLD.build_id AND NEW.build_id IS NOT NULL)
       OR (NEW.author_user_id IS DISTINCT FROM OLD.author_user_id AND NEW.author_user_id IS NOT NULL)
    THEN
        RAISE EXCEPTION 'release v% of app % is immutable: only its status, status reason and finish time may change',
            OLD.version, OLD.app_id
            USING ERRCODE = 'PT001';
    END IF;
    RETURN NEW;
END
$$;

CREATE TRIGGER releases_immutable
    BEFORE UPDATE ON releases
    FOR EACH ROW EXECUTE FUNCTION releases_immutable();

CREATE TABLE config_vars (
    app_id     bigint NOT NULL REFERENCES apps (id) ON DELETE CASCADE,
    key        text NOT NULL
               CHECK (length(key) <= 255 AND key ~ '^[A-Za-z_][A-Za-z0-9_]*$'),
    -- AES-256-GCM, bound to (app_id, key). Never plaintext.
    value      bytea NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT config_vars_pkey PRIMARY KEY (app_id, key)
);

CREATE TABLE formation (
    app_id       bigint NOT NULL REFERENCES apps (id) ON DELETE CASCADE,
    -- At most 16 characters so that "<app>-<type>" plus the ReplicaSet and
    -- pod suffixes stays within a 63-character label.
    process_type text NOT NULL CHECK (process_type ~ '^[a-z]([a-z0-9-]{0,14}[a-z0-9])?$'),
    quantity     integer NOT NULL DEFAULT 0 CHECK (quantity BETWEEN 0 AND 1000),
    size         text NOT NULL DEFAULT 'standard' CHECK (size IN ('small', 'standard', 'large')),
    command      text NOT NULL DEFAULT '' CHECK (length(command) <= 4096),
    updated_at   timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT formation_pkey PRIMARY KEY (app_id, process_type)
);

CREATE TABLE domains (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    app_id     bigint NOT NULL REFERENCES apps (id) ON DELETE CASCADE,
    host       text NOT NULL
               CHECK (length(host) <= 253
                      AND host ~ '^([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$'),
    created_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT domains_host_key UNIQUE (host)
);
CREATE INDEX domains_app_id_idx ON domains (app_id);

-- The deploy lock of an app, held as a lease: whoever holds an unexpired row
-- deploys; an expired row may be taken over.
CREATE TABLE deploy_locks (
    app_id      bigint PRIMARY KEY REFERENCES apps (id) ON DELETE CASCADE,
    holder      text NOT NULL CHECK (length(holder) BETWEEN 1 AND 200),
    description text NOT NULL DEFAULT '',
    acquired_at timestamptz NOT NULL DEFAULT now(),
    expires_at  timestamptz NOT NULL,
    CHECK (expires_at > acquired_at)
);

-- Who did what. Snapshots (emails, names) keep the history readable after
-- the user, tenant or app is gone. details never holds config values.
CREATE TABLE audit_events (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at            timestamptz NOT NULL DEFAULT now(),
    actor_user_id bigint REFERENCES users (id) ON DELETE SET NULL,
    actor_email   text NOT NULL DEFAULT '',
    tenant_id     bigint REFERENCES tenants (id) ON DELETE SET NULL,
    tenant_name   text,
    app_name      text,
    action        text NOT NULL CHECK (action ~ '^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+$'),
    target        text NOT NULL DEFAULT '',
    details       jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(details) = 'object'),
    remote_addr   text NOT NULL DEFAULT ''
);
CREATE INDEX audit_events_tenant_id_idx ON audit_events (tenant_id, id DESC) WHERE tenant_id IS NOT NULL;
CREATE INDEX audit_events_app_name_idx ON audit_events (app_name, id DESC) WHERE app_name IS NOT NULL;
CREATE INDEX audit_events_actor_user_id_idx ON audit_events (actor_user_id, id DESC) WHERE actor_user_id IS NOT NULL;
CREATE INDEX audit_events_at_idx ON audit_events (at);

COMMIT;
