-- 0003_health_path: the HTTP path an app declares (app.json healthchecks)
-- for telling that a process of a type is ready; empty means ready once its
-- port accepts connections. Release formation snapshots carry it in their
-- JSON as "health_path".
BEGIN;

ALTER TABLE formation
    ADD COLUMN health_path text NOT NULL DEFAULT ''
    CONSTRAINT formation_health_path_check
    CHECK (health_path = '' OR (health_path ~ '^/[!-~]*$' AND length(health_path) <= 200));

COMMIT;
