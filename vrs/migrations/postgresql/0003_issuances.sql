-- depends: 0002_row_level_security
-- One issuance per center session (issue 14): the session's hash, recorded in the issuing
-- transaction; a second issuance for it is refused (session_already_issued), whichever
-- center worker asks. The primary key sees every area's rows (a conflict is found whatever
-- the policy shows); the rows themselves are the area's, as the certificates are.
CREATE TABLE issuances (
    session_id TEXT PRIMARY KEY, municipality TEXT NOT NULL REFERENCES municipalities(code),
    certificate_ids TEXT NOT NULL, issued_at TEXT NOT NULL);
ALTER TABLE issuances ENABLE ROW LEVEL SECURITY;
ALTER TABLE issuances FORCE ROW LEVEL SECURITY;
CREATE POLICY area_rows ON issuances
    USING (municipality = current_setting('app.municipality', true));
GRANT SELECT, INSERT ON issuances TO vrs_app;
