//! Messages that can never be stored, kept in `ingest_quarantine` byte for
//! byte as they were received, with a kind and a reason.

use chrono::{DateTime, Utc};
use sqlx::PgConnection;

use super::Inbound;
use super::raw::{headers_json, printable};
use crate::Result;

/// A message refused, and why.
#[derive(Debug)]
pub(super) struct Rejected<'a> {
    pub message: &'a Inbound,
    pub kind: &'static str,
    pub reason: String,
}

/// Quarantines the messages; one already quarantined (a redelivery) stays as it was.
pub(super) async fn quarantine(conn: &mut PgConnection, rejected: &[Rejected<'_>]) -> Result<()> {
    if rejected.is_empty() {
        return Ok(());
    }
    let topic: Vec<&str> = rejected.iter().map(|r| r.message.topic.as_str()).collect();
    let partition: Vec<i32> = rejected.iter().map(|r| r.message.partition).collect();
    let offset: Vec<i64> = rejected.iter().map(|r| r.message.offset).collect();
    let key: Vec<Option<&[u8]>> = rejected.iter().map(|r| r.message.key.as_deref()).collect();
    let headers: Vec<String> = rejected.iter().map(|r| headers_json(&r.message.headers)).collect();
    let payload: Vec<&[u8]> = rejected.iter().map(|r| r.message.payload.as_slice()).collect();
    let kind: Vec<&str> = rejected.iter().map(|r| r.kind).collect();
    // A reason may quote the input, NUL included, which `text` refuses.
    let reason: Vec<String> = rejected.iter().map(|r| printable(&r.reason)).collect();
    let received_at: Vec<DateTime<Utc>> = rejected.iter().map(|r| r.message.received_at).collect();
    sqlx::query(
        "INSERT INTO ingest_quarantine (topic, partition, \"offset\", message_key, headers, payload, error_kind, \
             reason, received_at) \
         SELECT t, p, o, k, h::jsonb, b, e, r, at FROM UNNEST($1::text[], $2::int4[], $3::int8[], $4::bytea[], \
             $5::text[], $6::bytea[], $7::text[], $8::text[], $9::timestamptz[]) AS u(t, p, o, k, h, b, e, r, at) \
         ON CONFLICT (topic, partition, \"offset\") DO NOTHING",
    )
    .bind(&topic)
    .bind(&partition)
    .bind(&offset)
    .bind(&key)
    .bind(&headers)
    .bind(&payload)
    .bind(&kind)
    .bind(&reason)
    .bind(&received_at)
    .execute(conn)
    .await?;
    Ok(())
}

/// The reason of a reading that lost to a different one at the same instant.
pub(super) fn conflict_reason(reading: &vitals::Reading) -> String {
    format!(
        "patient {} already has a different reading at {} (from another message); a monitor measures once per \
         instant, so the first one stands",
        reading.patient, reading.measured_at
    )
}
