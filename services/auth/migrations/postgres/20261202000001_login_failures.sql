-- Failed logins of identifiers that name no account, so unknown accounts lock like known ones
-- (no user enumeration through lockout). Keyed by the SHA-256 of the normalised identifier:
-- what people mistype is not kept in clear.
CREATE TABLE login_failures (
    identifier_hash  TEXT PRIMARY KEY,
    failures         BIGINT NOT NULL DEFAULT 0,
    lockout_count    BIGINT NOT NULL DEFAULT 0,
    locked_until     BIGINT,
    updated_at       BIGINT NOT NULL
);
CREATE INDEX login_failures_updated ON login_failures (updated_at);
