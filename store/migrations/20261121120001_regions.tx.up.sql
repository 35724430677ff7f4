-- region controllers: every regiond registers itself here when it starts
-- serving (identity: hostname + listen address) and refreshes last_seen
-- while it runs, so every region lists all of them.

CREATE TABLE regions (
    id         {{.PK}},
    hostname   TEXT NOT NULL,
    address    TEXT NOT NULL,
    version    TEXT NOT NULL DEFAULT '',
    started_at {{.Time}} NOT NULL,
    last_seen  {{.Time}} NOT NULL
);

--bun:split

CREATE UNIQUE INDEX regions_identity ON regions (hostname, address);
