//! Parking readings whose patient is not known yet in `ingest_queue`, as the
//! message was received: payload and key as bytes (`bytea`), so that what is
//! promoted or quarantined later is decoded from exactly what arrived.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use super::Inbound;
use super::raw::headers_json;
use crate::Result;

/// Parks each message (of a reading of `patient`); `true` for those parked
/// now, `false` for those parked before (a redelivery).
pub(super) async fn park(conn: &mut PgConnection, messages: &[(Uuid, &Inbound)]) -> Result<Vec<bool>> {
    if messages.is_empty() {
        return Ok(Vec::new());
    }
    let patient: Vec<Uuid> = messages.iter().map(|(p, _)| *p).collect();
    let payload: Vec<&[u8]> = messages.iter().map(|(_, m)| m.payload.as_slice()).collect();
    let key: Vec<Option<&[u8]>> = messages.iter().map(|(_, m)| m.key.as_deref()).collect();
    let headers: Vec<String> = messages.iter().map(|(_, m)| headers_json(&m.headers)).collect();
    let topic: Vec<&str> = messages.iter().map(|(_, m)| m.topic.as_str()).collect();
    let partition: Vec<i32> = messages.iter().map(|(_, m)| m.partition).collect();
    let offset: Vec<i64> = messages.iter().map(|(_, m)| m.offset).collect();
    let received_at: Vec<DateTime<Utc>> = messages.iter().map(|(_, m)| m.received_at).collect();
    let parked: Vec<(String, i32, i64)> = sqlx::query_as(
        "INSERT INTO ingest_queue (patient_id, payload, message_key, headers, topic, partition, \"offset\", \
             received_at) \
         SELECT p, b, k, h::jsonb, t, pa, o, at FROM UNNEST($1::uuid[], $2::bytea[], $3::bytea[], $4::text[], \
             $5::text[], $6::int4[], $7::int8[], $8::timestamptz[]) AS u(p, b, k, h, t, pa, o, at) \
         ON CONFLICT (topic, partition, \"offset\") DO NOTHING \
         RETURNING topic, partition, \"offset\"",
    )
    .bind(&patient)
    .bind(&payload)
    .bind(&key)
    .bind(&headers)
    .bind(&topic)
    .bind(&partition)
    .bind(&offset)
    .bind(&received_at)
    .fetch_all(&mut *conn)
    .await?;
    let mut index: HashMap<(&str, i32, i64), usize> = HashMap::with_capacity(messages.len());
    for (i, (_, m)) in messages.iter().enumerate().rev() {
        index.insert((m.topic.as_str(), m.partition, m.offset), i);
    }
    let mut now = vec![false; messages.len()];
    for (topic, partition, offset) in &parked {
        if let Some(&i) = index.get(&(topic.as_str(), *partition, *offset)) {
            now[i] = true;
        }
    }
    Ok(now)
}

/// How many readings wait in the queue, and for how long the oldest has.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct QueueStats {
    pub depth: i64,
    pub oldest_age_seconds: f64,
}

pub async fn queue_stats(pool: &PgPool) -> Result<QueueStats> {
    let (depth, age): (i64, Option<f64>) =
        sqlx::query_as("SELECT count(*), EXTRACT(EPOCH FROM now() - min(queued_at))::float8 FROM ingest_queue")
            .fetch_one(pool)
            .await?;
    Ok(QueueStats { depth, oldest_age_seconds: age.unwrap_or(0.0).max(0.0) })
}
