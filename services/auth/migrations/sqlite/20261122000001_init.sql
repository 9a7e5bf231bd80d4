-- Auth schema for SQLite (embedded mode). Timestamps are Unix seconds.
CREATE TABLE users (
    id              TEXT PRIMARY KEY,
    email           TEXT NOT NULL,
    email_lower     TEXT NOT NULL UNIQUE,
    username        TEXT NOT NULL,
    username_lower  TEXT NOT NULL UNIQUE,
    first_name      TEXT,
    last_name       TEXT,
    display_name    TEXT,
    role            TEXT NOT NULL,
    is_active       INTEGER NOT NULL,
    email_verified  INTEGER NOT NULL,
    preferences     TEXT NOT NULL DEFAULT '{}',
    password_hash   TEXT NOT NULL,
    mfa_enabled     INTEGER NOT NULL DEFAULT 0,
    mfa_secret      TEXT,
    mfa_last_step   INTEGER,
    failed_logins   INTEGER NOT NULL DEFAULT 0,
    lockout_count   INTEGER NOT NULL DEFAULT 0,
    locked_until    INTEGER,
    created_at      INTEGER NOT NULL,
    updated_at      INTEGER NOT NULL,
    last_login_at   INTEGER
);
CREATE INDEX users_role ON users (role, is_active);

CREATE TABLE refresh_tokens (
    id          TEXT PRIMARY KEY,
    user_id     TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    family_id   TEXT NOT NULL,
    token_hash  TEXT NOT NULL UNIQUE,
    created_at  INTEGER NOT NULL,
    expires_at  INTEGER NOT NULL,
    rotated_at  INTEGER,
    revoked_at  INTEGER
);
CREATE INDEX refresh_tokens_family ON refresh_tokens (family_id);
CREATE INDEX refresh_tokens_user ON refresh_tokens (user_id);

CREATE TABLE one_time_tokens (
    token_hash  TEXT PRIMARY KEY,
    kind        TEXT NOT NULL,
    user_id     TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at  INTEGER NOT NULL,
    expires_at  INTEGER NOT NULL,
    used_at     INTEGER
);
CREATE INDEX one_time_tokens_user ON one_time_tokens (user_id);

CREATE TABLE backup_codes (
    user_id    TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    code_hash  TEXT NOT NULL,
    used_at    INTEGER,
    PRIMARY KEY (user_id, code_hash)
);

CREATE TABLE audit_logs (
    id          TEXT PRIMARY KEY,
    at          INTEGER NOT NULL,
    action      TEXT NOT NULL,
    outcome     TEXT NOT NULL,
    actor_id    TEXT,
    target_id   TEXT,
    ip          TEXT,
    user_agent  TEXT,
    detail      TEXT NOT NULL DEFAULT '{}'
);
CREATE INDEX audit_logs_at ON audit_logs (at);
CREATE INDEX audit_logs_action ON audit_logs (action, at);
CREATE INDEX audit_logs_actor ON audit_logs (actor_id, at);
CREATE INDEX audit_logs_target ON audit_logs (target_id, at);
