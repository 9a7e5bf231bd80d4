-- Failed logins of identifiers that name no account, so unknown accounts lock like known ones
-- (no user enumeration through lockout). Keyed by the SHA-256 of the normalised identifier:
-- what people mistype is not kept in clear.
CREATE TABLE login_failures (
    identifier_hash  TEXT PRIMARY KEY,
    failures         INTEGER NOT NULL DEFAULT 0,
    lockout_count    INTEGER NOT NULL DEFAULT 0,
    locked_until     INTEGER,
    updated_at       INTEGER NOT NULL
);
CREATE INDEX login_failures_updated ON login_failures (updated_at);
