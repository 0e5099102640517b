-- A parked message is kept as it was received, byte for byte: its payload
-- and key are bytes, not jsonb/text. jsonb re-serialises (key order,
-- whitespace, number forms) and refuses a NUL escape, so a parked reading
-- later quarantined would not be what was received, and a payload PostgreSQL
-- refused to park met another fate than the same payload of a known patient.
-- Rows parked before this migration keep jsonb's rendering of their payload
-- (the original bytes are gone); they decode the same.
ALTER TABLE ingest_queue
    ALTER COLUMN payload TYPE bytea USING convert_to(payload::text, 'UTF8'),
    ALTER COLUMN message_key TYPE bytea USING convert_to(message_key, 'UTF8');
