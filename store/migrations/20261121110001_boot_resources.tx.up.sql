-- Boot-resource metadata (images.Catalog, issue 6): resource sets and their
-- files. Only metadata lives here, shared by every region on the database;
-- the bytes live in each region's content-addressed images directory.

CREATE TABLE boot_resource_sets (
    id           {{.PK}},
    os           TEXT NOT NULL,
    release_name TEXT NOT NULL,
    arch         TEXT NOT NULL,
    subarch      TEXT NOT NULL,
    flavour      TEXT NOT NULL,
    version      TEXT NOT NULL,
    type         TEXT NOT NULL,
    complete     BOOLEAN NOT NULL DEFAULT FALSE,
    completed_at {{.Time}},
    UNIQUE (os, release_name, arch, subarch, flavour, version)
);

--bun:split

CREATE TABLE boot_resource_files (
    set_id BIGINT NOT NULL REFERENCES boot_resource_sets (id) ON DELETE CASCADE,
    name   TEXT NOT NULL,
    pos    INTEGER NOT NULL,
    sha256 TEXT NOT NULL,
    size   BIGINT NOT NULL,
    PRIMARY KEY (set_id, name)
);
