-- depends: 0001_baseline
-- One issuance per center session (issue 14): the session's hash, recorded in the issuing
-- transaction; a second issuance for it is refused (session_already_issued), whichever
-- center worker asks.
CREATE TABLE IF NOT EXISTS issuances (
    session_id TEXT PRIMARY KEY, municipality TEXT NOT NULL,
    certificate_ids TEXT NOT NULL, issued_at TEXT NOT NULL);
