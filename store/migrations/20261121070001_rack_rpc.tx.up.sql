-- the rack RPC (issue 8): registration nonces, rack status (heartbeat,
-- interfaces, service health), durable rack commands and lease events

CREATE TABLE rack_nonces (
    nonce   TEXT PRIMARY KEY,
    expires {{.Time}} NOT NULL
);

--bun:split

CREATE TABLE rack_status (
    rack_id         BIGINT PRIMARY KEY REFERENCES racks (id) ON DELETE CASCADE,
    address         TEXT NOT NULL DEFAULT '',
    interfaces      TEXT NOT NULL DEFAULT '[]',
    services        TEXT NOT NULL DEFAULT '[]',
    rogue_dhcp      TEXT NOT NULL DEFAULT '[]',
    config_revision TEXT NOT NULL DEFAULT '',
    heartbeat       {{.Time}} NOT NULL
);

--bun:split

CREATE TABLE rack_commands (
    id         {{.PK}},
    rack_id    BIGINT NOT NULL REFERENCES racks (id) ON DELETE CASCADE,
    kind       TEXT NOT NULL,
    args       TEXT NOT NULL DEFAULT '',
    state      TEXT NOT NULL DEFAULT 'pending',
    deadline   {{.Time}} NOT NULL,
    result     TEXT NOT NULL DEFAULT '',
    error      TEXT NOT NULL DEFAULT '',
    created_at {{.Time}} NOT NULL,
    done_at    {{.Time}}
);

--bun:split

CREATE INDEX rack_commands_rack_state ON rack_commands (rack_id, state);

--bun:split

CREATE TABLE rack_lease_events (
    rack_id  BIGINT NOT NULL REFERENCES racks (id) ON DELETE CASCADE,
    seq      BIGINT NOT NULL,
    type     TEXT NOT NULL,
    addr     TEXT NOT NULL,
    mac      TEXT NOT NULL,
    hostname TEXT NOT NULL DEFAULT '',
    subnet   TEXT NOT NULL DEFAULT '',
    start_at {{.Time}} NOT NULL,
    expiry   {{.Time}} NOT NULL,
    PRIMARY KEY (rack_id, seq)
);
