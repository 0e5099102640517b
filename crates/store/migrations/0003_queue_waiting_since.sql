-- How long a reading has waited in the queue, for the queue-age metric.
-- `received_at` is the message's Kafka timestamp (stable across redelivery),
-- which says how old the message is, not how long it has been parked: after
-- a replay from an early offset every parked reading would look ancient.
ALTER TABLE ingest_queue ADD COLUMN queued_at timestamptz NOT NULL DEFAULT now();
