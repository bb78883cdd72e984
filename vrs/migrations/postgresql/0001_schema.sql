-- The record system's tables, owned by the role that runs the migrations (vrs_owner); the
-- application connects as vrs_app, which must exist (vrs.pg creates both), may read and write
-- rows only, and is never the owner. Only sealed blobs, HMAC blind indexes and opaque row IDs.
CREATE TABLE municipalities (
    code TEXT PRIMARY KEY, name_ja TEXT NOT NULL, name_en TEXT NOT NULL,
    prefecture TEXT NOT NULL, offers_convenience_store BOOLEAN NOT NULL,
    mayor_ja TEXT NOT NULL, mayor_en TEXT NOT NULL, wrapped_key BYTEA NOT NULL);
CREATE TABLE persons (
    id TEXT PRIMARY KEY, municipality TEXT NOT NULL REFERENCES municipalities(code),
    blind_index BYTEA NOT NULL, sealed BYTEA NOT NULL,
    moved_out BOOLEAN NOT NULL DEFAULT false, deceased BOOLEAN NOT NULL DEFAULT false,
    coupon_index BYTEA,
    UNIQUE (municipality, blind_index));
CREATE UNIQUE INDEX persons_coupon_index ON persons (municipality, coupon_index)
    WHERE coupon_index IS NOT NULL;
CREATE TABLE doses (
    person_id TEXT PRIMARY KEY REFERENCES persons(id) ON DELETE CASCADE, sealed BYTEA NOT NULL);
CREATE TABLE certificates (
    certificate_id TEXT PRIMARY KEY,
    person_id TEXT NOT NULL REFERENCES persons(id) ON DELETE CASCADE,
    municipality TEXT NOT NULL, type TEXT NOT NULL, issued_at TEXT NOT NULL);
CREATE INDEX certificates_person ON certificates (person_id);
CREATE TABLE staff (
    user_id TEXT PRIMARY KEY, area TEXT NOT NULL, role TEXT NOT NULL,
    password_hash TEXT NOT NULL, revoked INTEGER NOT NULL DEFAULT 0,
    created_by TEXT NOT NULL, created_at TEXT NOT NULL,
    failed_logins INTEGER NOT NULL DEFAULT 0, locked_until DOUBLE PRECISION NOT NULL DEFAULT 0);
CREATE TABLE oplog (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY, at TEXT NOT NULL, actor TEXT NOT NULL,
    area TEXT NOT NULL, action TEXT NOT NULL, target TEXT NOT NULL, outcome TEXT NOT NULL);
CREATE INDEX oplog_area ON oplog (area, id);
CREATE TABLE transfers (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY, at TEXT NOT NULL, actor TEXT NOT NULL,
    from_area TEXT NOT NULL, to_area TEXT NOT NULL, from_person TEXT, to_person TEXT NOT NULL,
    doses INTEGER NOT NULL, outcome TEXT NOT NULL);
CREATE INDEX transfers_from ON transfers (from_area, id);
CREATE INDEX transfers_to ON transfers (to_area, id);
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);

REVOKE ALL ON ALL TABLES IN SCHEMA public FROM PUBLIC;
GRANT SELECT ON _yoyo_migration TO vrs_app;
GRANT SELECT, INSERT ON municipalities TO vrs_app;
GRANT SELECT, INSERT, DELETE ON persons TO vrs_app;
GRANT SELECT, INSERT, UPDATE ON doses TO vrs_app;
GRANT SELECT, INSERT ON certificates TO vrs_app;
GRANT SELECT, INSERT, UPDATE ON staff TO vrs_app;
GRANT SELECT, INSERT ON oplog TO vrs_app;  -- append only: no UPDATE, no DELETE
GRANT SELECT, INSERT ON transfers TO vrs_app;
GRANT SELECT, INSERT, UPDATE ON meta TO vrs_app;
