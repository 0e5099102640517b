//! Promotion: parked readings whose patient is known by now are judged again
//! from the bytes that were received and written to `vital_signs`, in the
//! transaction that makes their patient known, or by a sweep (the safety net
//! for a reading parked while another replica admitted its patient).

use chrono::{DateTime, Utc};
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;
use vitals::{Channel, Plan, Received, Verdict};

use super::prepared::{encode, rows_of};
use super::quarantine::{Rejected, conflict_reason, quarantine};
use super::raw::headers_from_json;
use super::readings::{Written, write};
use super::{CONFLICT, Inbound, Landed};
use crate::Result;

/// Parked readings promoted per transaction, at most: a patient with a huge
/// backlog is promoted over several sweeps rather than in one transaction
/// that holds its locks for long.
pub(super) const PROMOTION_LIMIT: i64 = 10_000;

#[derive(sqlx::FromRow)]
struct ParkedRow {
    payload: Vec<u8>,
    message_key: Option<Vec<u8>>,
    headers: serde_json::Value,
    topic: String,
    partition: i32,
    offset: i64,
    received_at: DateTime<Utc>,
}

/// Promotes up to `limit` parked readings whose patient is known (of
/// `patients` only, when given). Rows another transaction holds are skipped,
/// not waited for, so many replicas can promote at once. Each parked reading
/// is promoted, a duplicate, or quarantined (no longer valid, or in conflict
/// with a stored reading); none stays parked.
pub(super) async fn promote(conn: &mut PgConnection, patients: Option<&[Uuid]>, limit: i64) -> Result<Landed> {
    let parked: Vec<ParkedRow> = sqlx::query_as(
        "DELETE FROM ingest_queue WHERE id IN ( \
             SELECT q.id FROM ingest_queue q \
             WHERE ($1::uuid[] IS NULL OR q.patient_id = ANY($1)) \
               AND EXISTS (SELECT 1 FROM patients p WHERE p.uuid = q.patient_id) \
             ORDER BY q.id LIMIT $2 FOR UPDATE OF q SKIP LOCKED) \
         RETURNING payload, message_key, headers, topic, partition, \"offset\", received_at",
    )
    .bind(patients)
    .bind(limit)
    .fetch_all(&mut *conn)
    .await?;
    let mut landed = Landed::default();
    if parked.is_empty() {
        return Ok(landed);
    }
    let messages: Vec<Inbound> = parked
        .into_iter()
        .map(|row| Inbound {
            headers: headers_from_json(&row.headers),
            topic: row.topic,
            partition: row.partition,
            offset: row.offset,
            key: row.message_key,
            payload: row.payload,
            received_at: row.received_at,
        })
        .collect();
    let received: Vec<Received<'_>> = messages
        .iter()
        .map(|m| Received {
            channel: Channel::Readings,
            payload: &m.payload,
            headers: &m.headers,
            received_at: m.received_at,
        })
        .collect();
    let plan = Plan::of(&received);

    let mut rejected: Vec<Rejected<'_>> = Vec::new();
    for (message, verdict) in messages.iter().zip(&plan.verdicts) {
        // Parked messages were judged valid once; a failure now means the
        // domain's rules changed since. Left parked, such a row would come
        // first in every sweep forever: it goes to quarantine instead.
        if let Verdict::Rejected(r) = verdict {
            rejected.push(Rejected {
                message,
                kind: r.kind,
                reason: format!("queued, then no longer valid: {}", r.reason),
            });
        }
    }
    let all: Vec<usize> = (0..plan.readings.len()).collect();
    let (indices, rows): (Vec<usize>, Vec<_>) = rows_of(&plan, &messages, &all).into_iter().unzip();
    let tuples = encode(&plan, &messages).map_err(crate::Error::Encode)?;
    for (written, i) in write(conn, &rows, &tuples.stream(&all)).await?.into_iter().zip(indices) {
        match written {
            Written::Stored => {
                landed.promoted += 1;
                landed.measured.extend(plan.reading(i).map(|s| s.reading.measured_at));
                landed.promoted_traces.extend(plan.reading(i).and_then(|s| s.trace));
            }
            Written::Duplicate => landed.duplicates += 1,
            Written::Conflict => {
                let reason = plan.reading(i).map(|s| conflict_reason(&s.reading)).unwrap_or_default();
                rejected.push(Rejected { message: &messages[i], kind: CONFLICT, reason });
            }
        }
    }
    if !rejected.is_empty() {
        tracing::warn!(messages = rejected.len(), "parked readings could not be promoted; quarantined");
        for r in &rejected {
            *landed.quarantined.entry(r.kind).or_default() += 1;
        }
        quarantine(conn, &rejected).await?;
    }
    Ok(landed)
}

/// Promotes up to `limit` parked readings whose patient is known by now.
/// Safe to run from many replicas at once.
pub async fn sweep(pool: &PgPool, limit: i64) -> Result<Landed> {
    let mut tx = pool.begin().await?;
    let swept = promote(&mut tx, None, limit).await?;
    tx.commit().await?;
    Ok(swept)
}
