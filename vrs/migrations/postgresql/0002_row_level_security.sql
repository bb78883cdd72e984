-- depends: 0001_schema
-- The second wall of M10: every table holding an area's rows shows and takes only the rows of
-- the area set for the transaction (set_config('app.municipality', code, true), which the
-- storage sets before each query). Without one, current_setting(..., true) is NULL or '' and
-- no row matches. FORCE: the owner too; vrs_app is neither owner nor BYPASSRLS.
ALTER TABLE persons ENABLE ROW LEVEL SECURITY;
ALTER TABLE persons FORCE ROW LEVEL SECURITY;
CREATE POLICY area_rows ON persons
    USING (municipality = current_setting('app.municipality', true));

ALTER TABLE doses ENABLE ROW LEVEL SECURITY;
ALTER TABLE doses FORCE ROW LEVEL SECURITY;
CREATE POLICY area_rows ON doses
    USING (EXISTS (SELECT 1 FROM persons p WHERE p.id = doses.person_id
                   AND p.municipality = current_setting('app.municipality', true)));

ALTER TABLE certificates ENABLE ROW LEVEL SECURITY;
ALTER TABLE certificates FORCE ROW LEVEL SECURITY;
CREATE POLICY area_rows ON certificates
    USING (municipality = current_setting('app.municipality', true));

-- the operation log: read within the area; any area's entry may be appended (group commit
-- writes many areas' entries in one transaction); nothing is changed or removed (no grant)
ALTER TABLE oplog ENABLE ROW LEVEL SECURITY;
ALTER TABLE oplog FORCE ROW LEVEL SECURITY;
CREATE POLICY area_reads ON oplog FOR SELECT
    USING (area = current_setting('app.municipality', true));
CREATE POLICY appends ON oplog FOR INSERT WITH CHECK (true);

-- a transfer is seen by both areas and recorded by the receiving one
ALTER TABLE transfers ENABLE ROW LEVEL SECURITY;
ALTER TABLE transfers FORCE ROW LEVEL SECURITY;
CREATE POLICY area_reads ON transfers FOR SELECT
    USING (current_setting('app.municipality', true) IN (from_area, to_area));
CREATE POLICY receiver_writes ON transfers FOR INSERT
    WITH CHECK (to_area = current_setting('app.municipality', true));
