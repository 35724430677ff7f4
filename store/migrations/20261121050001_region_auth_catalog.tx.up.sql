-- Region tables owned by regiond (internal/region/backend): users, API keys,
-- machine and rack tokens, racks, tags, and machine details the API shows
-- (cpu, memory, power state, deployment choices). Only token hashes are
-- stored, never tokens; passwords are argon2id hashes.

CREATE TABLE users (
    id            {{.PK}},
    username      TEXT NOT NULL UNIQUE,
    email         TEXT NOT NULL DEFAULT '',
    admin         BOOLEAN NOT NULL DEFAULT FALSE,
    password_hash TEXT NOT NULL,
    created_at    {{.Time}} NOT NULL
);

--bun:split

CREATE TABLE api_keys (
    id         {{.PK}},
    user_id    BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name       TEXT NOT NULL,
    token_hash TEXT NOT NULL UNIQUE,
    created_at {{.Time}} NOT NULL,
    revoked_at {{.Time}}
);

--bun:split

CREATE INDEX api_keys_user_idx ON api_keys (user_id);

--bun:split

CREATE TABLE machine_tokens (
    token_hash TEXT PRIMARY KEY,
    system_id  TEXT NOT NULL REFERENCES machines (system_id) ON DELETE CASCADE,
    created_at {{.Time}} NOT NULL
);

--bun:split

CREATE TABLE racks (
    id         {{.PK}},
    name       TEXT NOT NULL UNIQUE,
    version    TEXT NOT NULL DEFAULT '',
    last_seen  {{.Time}},
    created_at {{.Time}} NOT NULL
);

--bun:split

CREATE TABLE rack_tokens (
    token_hash TEXT PRIMARY KEY,
    rack_id    BIGINT NOT NULL REFERENCES racks (id) ON DELETE CASCADE,
    created_at {{.Time}} NOT NULL
);

--bun:split

CREATE TABLE tags (
    id         {{.PK}},
    name       TEXT NOT NULL UNIQUE,
    comment    TEXT NOT NULL DEFAULT '',
    created_at {{.Time}} NOT NULL
);

--bun:split

CREATE TABLE machine_tags (
    system_id TEXT NOT NULL REFERENCES machines (system_id) ON DELETE CASCADE,
    tag_id    BIGINT NOT NULL REFERENCES tags (id) ON DELETE CASCADE,
    PRIMARY KEY (system_id, tag_id)
);

--bun:split

CREATE INDEX machine_tags_tag_idx ON machine_tags (tag_id);

--bun:split

CREATE TABLE machine_details (
    system_id     TEXT PRIMARY KEY REFERENCES machines (system_id) ON DELETE CASCADE,
    cpu_count     INTEGER NOT NULL DEFAULT 0,
    memory_mib    BIGINT NOT NULL DEFAULT 0,
    power_state   TEXT NOT NULL DEFAULT 'unknown',
    osystem       TEXT NOT NULL DEFAULT '',
    distro_series TEXT NOT NULL DEFAULT '',
    user_data     TEXT NOT NULL DEFAULT '',
    updated_at    {{.Time}} NOT NULL
);
