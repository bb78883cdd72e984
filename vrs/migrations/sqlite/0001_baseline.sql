-- The schema as it was before migrations (issue 14): every statement is IF NOT EXISTS, so a
-- database made by earlier code is only marked as at this version, not changed.
CREATE TABLE IF NOT EXISTS municipalities (
    code TEXT PRIMARY KEY, name_ja TEXT NOT NULL, name_en TEXT NOT NULL,
    prefecture TEXT NOT NULL, offers_convenience_store INTEGER NOT NULL,
    mayor_ja TEXT NOT NULL, mayor_en TEXT NOT NULL, wrapped_key BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS persons (
    id TEXT PRIMARY KEY, municipality TEXT NOT NULL REFERENCES municipalities(code),
    blind_index BLOB NOT NULL, sealed BLOB NOT NULL,
    moved_out INTEGER NOT NULL DEFAULT 0, deceased INTEGER NOT NULL DEFAULT 0,
    coupon_index BLOB,
    UNIQUE (municipality, blind_index));
CREATE TABLE IF NOT EXISTS doses (
    person_id TEXT PRIMARY KEY REFERENCES persons(id) ON DELETE CASCADE, sealed BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS certificates (
    certificate_id TEXT PRIMARY KEY,
    person_id TEXT NOT NULL REFERENCES persons(id) ON DELETE CASCADE,
    municipality TEXT NOT NULL, type TEXT NOT NULL, issued_at TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS staff (
    user_id TEXT PRIMARY KEY, area TEXT NOT NULL, role TEXT NOT NULL,
    password_hash TEXT NOT NULL, revoked INTEGER NOT NULL DEFAULT 0,
    created_by TEXT NOT NULL, created_at TEXT NOT NULL,
    failed_logins INTEGER NOT NULL DEFAULT 0, locked_until REAL NOT NULL DEFAULT 0);
CREATE TABLE IF NOT EXISTS oplog (
    id INTEGER PRIMARY KEY AUTOINCREMENT, at TEXT NOT NULL, actor TEXT NOT NULL,
    area TEXT NOT NULL, action TEXT NOT NULL, target TEXT NOT NULL, outcome TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS oplog_area ON oplog (area, id);
CREATE TABLE IF NOT EXISTS transfers (
    id INTEGER PRIMARY KEY AUTOINCREMENT, at TEXT NOT NULL, actor TEXT NOT NULL,
    from_area TEXT NOT NULL, to_area TEXT NOT NULL, from_person TEXT, to_person TEXT NOT NULL,
    doses INTEGER NOT NULL, outcome TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS transfers_from ON transfers (from_area, id);
CREATE INDEX IF NOT EXISTS transfers_to ON transfers (to_area, id);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE UNIQUE INDEX IF NOT EXISTS persons_coupon ON persons (municipality, coupon_index)
    WHERE coupon_index IS NOT NULL;
