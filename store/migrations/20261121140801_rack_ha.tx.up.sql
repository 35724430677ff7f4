-- issue 8 (rack HA follow-up): a machine token is valid only while its
-- machine's status is one of the statuses of the boot it was minted for
-- (",commissioning,testing," — comma-delimited, with leading and trailing
-- commas; empty: any status, as tokens minted before this migration).

ALTER TABLE machine_tokens ADD COLUMN statuses TEXT NOT NULL DEFAULT '';
