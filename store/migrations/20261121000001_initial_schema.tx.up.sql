-- ironkit initial schema. A text/template: {{"{{.PK}}"}} and friends are the
-- backend's column types (see dialectTypes in migrate.go).

CREATE TABLE secrets (
    name       TEXT PRIMARY KEY,
    value      {{.Bytes}} NOT NULL,
    created_at {{.Time}} NOT NULL
);

--bun:split

CREATE TABLE zones (
    id          {{.PK}},
    name        TEXT NOT NULL UNIQUE,
    description TEXT NOT NULL DEFAULT '',
    created_at  {{.Time}} NOT NULL,
    updated_at  {{.Time}} NOT NULL
);

--bun:split

CREATE TABLE resource_pools (
    id          {{.PK}},
    name        TEXT NOT NULL UNIQUE,
    description TEXT NOT NULL DEFAULT '',
    created_at  {{.Time}} NOT NULL,
    updated_at  {{.Time}} NOT NULL
);

--bun:split

INSERT INTO zones (name, description, created_at, updated_at)
VALUES ('default', 'Default zone', CURRENT_TIMESTAMP, CURRENT_TIMESTAMP);

--bun:split

INSERT INTO resource_pools (name, description, created_at, updated_at)
VALUES ('default', 'Default pool', CURRENT_TIMESTAMP, CURRENT_TIMESTAMP);

--bun:split

CREATE TABLE spaces (
    id          {{.PK}},
    name        TEXT NOT NULL UNIQUE,
    description TEXT NOT NULL DEFAULT '',
    created_at  {{.Time}} NOT NULL,
    updated_at  {{.Time}} NOT NULL
);

--bun:split

CREATE TABLE fabrics (
    id          {{.PK}},
    name        TEXT NOT NULL UNIQUE,
    description TEXT NOT NULL DEFAULT '',
    created_at  {{.Time}} NOT NULL,
    updated_at  {{.Time}} NOT NULL
);

--bun:split

-- primary_rack and secondary_rack name rack controllers; they get foreign
-- keys when racks are stored.
CREATE TABLE vlans (
    id             {{.PK}},
    fabric_id      BIGINT NOT NULL REFERENCES fabrics (id) ON DELETE CASCADE,
    vid            INTEGER NOT NULL CHECK (vid BETWEEN 0 AND 4094),
    name           TEXT NOT NULL DEFAULT '',
    mtu            INTEGER NOT NULL CHECK (mtu BETWEEN 552 AND 65535),
    dhcp_on        BOOLEAN NOT NULL DEFAULT FALSE,
    primary_rack   BIGINT,
    secondary_rack BIGINT,
    relay_vlan_id  BIGINT REFERENCES vlans (id) ON DELETE SET NULL,
    space_id       BIGINT REFERENCES spaces (id) ON DELETE SET NULL,
    description    TEXT NOT NULL DEFAULT '',
    created_at     {{.Time}} NOT NULL,
    updated_at     {{.Time}} NOT NULL,
    CONSTRAINT vlans_fabric_vid_key UNIQUE (fabric_id, vid)
);

--bun:split

CREATE TABLE subnets (
    id          {{.PK}},
    name        TEXT NOT NULL DEFAULT '',
    vlan_id     BIGINT NOT NULL REFERENCES vlans (id),
    cidr        TEXT NOT NULL,
    gateway_ip  TEXT,
    dns_servers {{.JSON}} NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    created_at  {{.Time}} NOT NULL,
    updated_at  {{.Time}} NOT NULL,
    CONSTRAINT subnets_cidr_key UNIQUE (cidr)
);

--bun:split

CREATE TABLE ip_ranges (
    id         {{.PK}},
    subnet_id  BIGINT NOT NULL REFERENCES subnets (id) ON DELETE CASCADE,
    type       TEXT NOT NULL CHECK (type IN ('dynamic', 'reserved')),
    start_ip   TEXT NOT NULL,
    end_ip     TEXT NOT NULL,
    comment    TEXT NOT NULL DEFAULT '',
    created_at {{.Time}} NOT NULL,
    updated_at {{.Time}} NOT NULL
);

--bun:split

CREATE INDEX ip_ranges_subnet_idx ON ip_ranges (subnet_id);

--bun:split

CREATE TABLE machines (
    system_id       TEXT PRIMARY KEY,
    hostname        TEXT NOT NULL,
    architecture    TEXT NOT NULL,
    status          TEXT NOT NULL,
    previous_status TEXT NOT NULL DEFAULT '',
    owner           TEXT NOT NULL DEFAULT '',
    zone_id         BIGINT NOT NULL REFERENCES zones (id),
    pool_id         BIGINT NOT NULL REFERENCES resource_pools (id),
    power_type      TEXT NOT NULL DEFAULT '',
    power_params    {{.JSON}} NOT NULL,
    power_secrets   {{.Bytes}},
    inventory       {{.JSON}},
    status_deadline {{.Time}},
    locked          BOOLEAN NOT NULL DEFAULT FALSE,
    version         BIGINT NOT NULL DEFAULT 1,
    created_at      {{.Time}} NOT NULL,
    updated_at      {{.Time}} NOT NULL,
    CONSTRAINT machines_hostname_key UNIQUE (hostname)
);

--bun:split

CREATE INDEX machines_status_deadline_idx ON machines (status_deadline)
    WHERE status_deadline IS NOT NULL;

--bun:split

CREATE TABLE interfaces (
    id         {{.PK}},
    system_id  TEXT NOT NULL REFERENCES machines (system_id) ON DELETE CASCADE,
    name       TEXT NOT NULL,
    mac        TEXT NOT NULL,
    vlan_id    BIGINT REFERENCES vlans (id) ON DELETE SET NULL,
    created_at {{.Time}} NOT NULL,
    updated_at {{.Time}} NOT NULL,
    CONSTRAINT interfaces_mac_key UNIQUE (mac),
    CONSTRAINT interfaces_machine_name_key UNIQUE (system_id, name)
);

--bun:split

-- An address with no ip is an auto address not yet chosen (before deploy).
CREATE TABLE ip_addresses (
    id           {{.PK}},
    subnet_id    BIGINT NOT NULL REFERENCES subnets (id) ON DELETE CASCADE,
    ip           TEXT,
    alloc_type   TEXT NOT NULL CHECK (alloc_type IN ('auto', 'sticky', 'user-reserved', 'dhcp', 'discovered')),
    interface_id BIGINT REFERENCES interfaces (id) ON DELETE CASCADE,
    owner        TEXT NOT NULL DEFAULT '',
    comment      TEXT NOT NULL DEFAULT '',
    created_at   {{.Time}} NOT NULL,
    updated_at   {{.Time}} NOT NULL
);

--bun:split

-- The guarantee that no address is handed out twice: one managed row per
-- (subnet, ip). Discovered addresses are observations and may repeat.
CREATE UNIQUE INDEX ip_addresses_subnet_ip_key ON ip_addresses (subnet_id, ip)
    WHERE alloc_type <> 'discovered';

--bun:split

CREATE INDEX ip_addresses_interface_idx ON ip_addresses (interface_id);

--bun:split

-- Events outlive their machine (audit trail): no foreign key.
CREATE TABLE events (
    id          {{.PK}},
    system_id   TEXT NOT NULL,
    type        TEXT NOT NULL,
    from_status TEXT NOT NULL DEFAULT '',
    to_status   TEXT NOT NULL DEFAULT '',
    username    TEXT NOT NULL DEFAULT '',
    reason      TEXT NOT NULL DEFAULT '',
    created_at  {{.Time}} NOT NULL
);

--bun:split

CREATE INDEX events_machine_idx ON events (system_id, id);
