-- Tell API replicas whose readings changed, so that they may cache pages of
-- readings and still never serve one that a commit has made stale.
--
-- The database says so itself, from triggers, rather than each writer in
-- Rust: landing, promotion, the sweep, a benchmark loader and a hand-made fix
-- are all covered. The triggers are per statement with a transition table,
-- not per row: a batch of 5,000 readings costs a handful of NOTIFYs (one per
-- 200 distinct patients, which keeps each payload under PostgreSQL's 8,000
-- bytes), not 5,000. NOTIFY is transactional, so listeners hear only of
-- committed changes, after the commit.
--
-- Payload: patient UUIDs separated by commas, or `*` for "everything" (TRUNCATE).

CREATE FUNCTION notify_readings_changed() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    patients uuid[];
BEGIN
    SELECT array_agg(DISTINCT patient_id) INTO patients FROM changed;
    -- A statement that changed no row (a redelivered batch) is no news.
    IF patients IS NULL THEN
        RETURN NULL;
    END IF;
    FOR chunk IN 0 .. (cardinality(patients) - 1) / 200 LOOP
        PERFORM pg_notify('icu_readings_changed', array_to_string(patients[chunk * 200 + 1 : chunk * 200 + 200], ','));
    END LOOP;
    RETURN NULL;
END
$$;

CREATE FUNCTION notify_all_readings_changed() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('icu_readings_changed', '*');
    RETURN NULL;
END
$$;

-- Transition tables allow one event per trigger, hence one trigger each; an
-- UPDATE announces the patients of the old rows and of the new ones (it may
-- move a reading from one patient to another).
CREATE TRIGGER vital_signs_inserted AFTER INSERT ON vital_signs
    REFERENCING NEW TABLE AS changed FOR EACH STATEMENT EXECUTE FUNCTION notify_readings_changed();
CREATE TRIGGER vital_signs_updated_from AFTER UPDATE ON vital_signs
    REFERENCING OLD TABLE AS changed FOR EACH STATEMENT EXECUTE FUNCTION notify_readings_changed();
CREATE TRIGGER vital_signs_updated_to AFTER UPDATE ON vital_signs
    REFERENCING NEW TABLE AS changed FOR EACH STATEMENT EXECUTE FUNCTION notify_readings_changed();
CREATE TRIGGER vital_signs_deleted AFTER DELETE ON vital_signs
    REFERENCING OLD TABLE AS changed FOR EACH STATEMENT EXECUTE FUNCTION notify_readings_changed();
CREATE TRIGGER vital_signs_truncated AFTER TRUNCATE ON vital_signs
    FOR EACH STATEMENT EXECUTE FUNCTION notify_all_readings_changed();
