-- depends: 0003_issuances
-- A dose list's area on its own row (issue 14's import figures): the doses policy becomes a
-- plain comparison, as on every other area table, instead of a lookup into persons for each
-- row read or written (the import's merge paid it once per dose list). The area is the
-- person's, filled in here for the rows already stored; the storage writes it with each row.
-- A dose list is sealed with its area's dose key and bound (AAD) to its area and person, so a
-- row given another area's name could not be opened there.
-- The import's per-row foreign-key checks go too (half the server's work in the merge: a
-- lookup and a row lock in the parent for each row): persons -> municipalities, which the
-- application can only add to (no UPDATE or DELETE granted), and doses -> persons, whose
-- cascade the storage's erase does itself (one statement: the person and its dose list).
-- FORCE is lifted for the fill only (the owner sees every row); the wall is back at the end.
ALTER TABLE persons NO FORCE ROW LEVEL SECURITY;
ALTER TABLE doses NO FORCE ROW LEVEL SECURITY;
ALTER TABLE doses ADD COLUMN municipality TEXT;
UPDATE doses d SET municipality = p.municipality FROM persons p WHERE p.id = d.person_id;
ALTER TABLE doses ALTER COLUMN municipality SET NOT NULL;
DROP POLICY area_rows ON doses;
CREATE POLICY area_rows ON doses
    USING (municipality = current_setting('app.municipality', true));
ALTER TABLE persons DROP CONSTRAINT persons_municipality_fkey;
ALTER TABLE doses DROP CONSTRAINT doses_person_id_fkey;
ALTER TABLE persons FORCE ROW LEVEL SECURITY;
ALTER TABLE doses FORCE ROW LEVEL SECURITY;
GRANT DELETE ON doses TO vrs_app;
