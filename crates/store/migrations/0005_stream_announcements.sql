-- Announce which readings were stored, and which patients were admitted, on
-- the channel the page cache already hears (migration 0002), so that the
-- live stream can send every new reading and admission as it commits with
-- one query per announcement for all its clients.
--
-- An insert now names each reading (patient and instant, the primary key),
-- not only its patient: a listener can then fetch exactly the readings a
-- commit stored, whatever order transactions commit in (stored_at or a
-- sequence would miss a transaction that started earlier and committed
-- later). Payload: `stored:` then `uuid@microseconds since 1970` separated by
-- commas, at most 120 per NOTIFY (≈ 6,500 bytes, under PostgreSQL's 8,000).
-- Updates and deletes still announce patients only (0002's payload).

CREATE FUNCTION notify_readings_stored() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    keys text[];
BEGIN
    SELECT array_agg(patient_id::text || '@' || (extract(epoch FROM measured_at) * 1000000)::bigint
                     ORDER BY patient_id, measured_at)
      INTO keys FROM changed;
    IF keys IS NULL THEN
        RETURN NULL;
    END IF;
    FOR chunk IN 0 .. (cardinality(keys) - 1) / 120 LOOP
        PERFORM pg_notify('icu_readings_changed', 'stored:' || array_to_string(keys[chunk * 120 + 1 : chunk * 120 + 120], ','));
    END LOOP;
    RETURN NULL;
END
$$;

DROP TRIGGER vital_signs_inserted ON vital_signs;
CREATE TRIGGER vital_signs_inserted AFTER INSERT ON vital_signs
    REFERENCING NEW TABLE AS changed FOR EACH STATEMENT EXECUTE FUNCTION notify_readings_stored();

-- Admissions: a new patient, or a patient whose name, bed or admission time
-- changed (a redelivered admission that changes nothing is no news).
-- Payload: `admitted:` then UUIDs separated by commas, at most 200 per NOTIFY.
CREATE FUNCTION notify_patients_admitted() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    patients uuid[];
BEGIN
    IF TG_OP = 'INSERT' THEN
        SELECT array_agg(uuid ORDER BY uuid) INTO patients FROM admitted;
    ELSE
        SELECT array_agg(n.uuid ORDER BY n.uuid) INTO patients
          FROM admitted n JOIN before o ON o.uuid = n.uuid
         WHERE (n.name, n.bed, n.admitted_at) IS DISTINCT FROM (o.name, o.bed, o.admitted_at);
    END IF;
    IF patients IS NULL THEN
        RETURN NULL;
    END IF;
    FOR chunk IN 0 .. (cardinality(patients) - 1) / 200 LOOP
        PERFORM pg_notify('icu_readings_changed', 'admitted:' || array_to_string(patients[chunk * 200 + 1 : chunk * 200 + 200], ','));
    END LOOP;
    RETURN NULL;
END
$$;

CREATE TRIGGER patients_inserted AFTER INSERT ON patients
    REFERENCING NEW TABLE AS admitted FOR EACH STATEMENT EXECUTE FUNCTION notify_patients_admitted();
CREATE TRIGGER patients_updated AFTER UPDATE ON patients
    REFERENCING OLD TABLE AS before NEW TABLE AS admitted FOR EACH STATEMENT EXECUTE FUNCTION notify_patients_admitted();
