-- The ward: patients, their readings, and the two landing tables that make
-- "never lose, never duplicate" explainable.

CREATE TABLE patients (
    uuid        uuid PRIMARY KEY,
    name        text NOT NULL,
    bed         text,
    -- A reading in the original format registers its patient before any
    -- admission arrives; admitted_at is then its first reading's time until
    -- the admission event says otherwise.
    admitted_at timestamptz NOT NULL,
    updated_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE vital_signs (
    patient_id       uuid NOT NULL REFERENCES patients (uuid),
    measured_at      timestamptz NOT NULL,
    pulse            smallint NOT NULL,
    resp_rate        smallint NOT NULL,
    bp_systolic      smallint NOT NULL,
    bp_diastolic     smallint NOT NULL,
    spo2             smallint NOT NULL,
    temperature      double precision NOT NULL,
    on_oxygen        boolean,
    acvpu            text,
    news2            smallint NOT NULL,
    news2_band       text NOT NULL,
    -- W3C trace context of the producer span, so the API can link a reading
    -- back to its trace (filled by the observability work).
    trace_id         text,
    span_id          text,
    -- Where the reading came from: a redelivered message finds itself.
    source_topic     text NOT NULL,
    source_partition integer NOT NULL,
    source_offset    bigint NOT NULL,
    stored_at        timestamptz NOT NULL DEFAULT now(),
    -- The natural key: one monitor measures a patient once per instant. It is
    -- also the index for "latest N readings" and time ranges, newest first.
    PRIMARY KEY (patient_id, measured_at)
);

-- Readings that cannot be stored yet: their patient is unknown. Kept whole,
-- promoted in the transaction that stores the admission, or by a sweep.
CREATE TABLE ingest_queue (
    id               bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    patient_id       uuid NOT NULL,
    payload          jsonb NOT NULL,
    message_key      text,
    headers          jsonb NOT NULL DEFAULT '{}',
    topic            text NOT NULL,
    partition        integer NOT NULL,
    "offset"         bigint NOT NULL,
    received_at      timestamptz NOT NULL DEFAULT now(),
    attempts         integer NOT NULL DEFAULT 0,
    -- A redelivered batch must not park the same message twice.
    UNIQUE (topic, partition, "offset")
);
CREATE INDEX ingest_queue_patient ON ingest_queue (patient_id);

-- Messages that can never be stored, kept byte for byte with the reason.
CREATE TABLE ingest_quarantine (
    id               bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    topic            text NOT NULL,
    partition        integer NOT NULL,
    "offset"         bigint NOT NULL,
    message_key      bytea,
    headers          jsonb NOT NULL DEFAULT '{}',
    -- bytea, not jsonb: the payload may not be JSON, or not even UTF-8.
    payload          bytea NOT NULL,
    error_kind       text NOT NULL,
    reason           text NOT NULL,
    received_at      timestamptz NOT NULL DEFAULT now(),
    UNIQUE (topic, partition, "offset")
);
CREATE INDEX ingest_quarantine_kind ON ingest_quarantine (error_kind, received_at);
