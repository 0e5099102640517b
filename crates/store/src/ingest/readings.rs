//! Writing readings of known patients into `vital_signs`, exactly once.
//!
//! Duplicates are rare: they come from redelivery after a crash or a
//! rebalance. So the common case does not pay for them: the readings are
//! `COPY`ed in (binary format) inside a savepoint, which is as fast as
//! PostgreSQL takes rows. Only when that fails on a unique violation is the
//! savepoint rolled back and the readings written the idempotent way
//! (`INSERT … ON CONFLICT DO NOTHING`), each one's fate read from what the
//! statement returns. A batch whose first reading is already stored (a
//! redelivered batch) goes the idempotent way at once.

use std::collections::HashMap;

use sqlx::PgConnection;

use super::columns::{MEASURED_DIFFER, NAMES, ReadingColumns, ReadingRow, Source, UNNEST, UNNEST_NUMBERED};
use crate::Result;

/// What became of one reading.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Written {
    Stored,
    /// Already stored: by this message before, or with the same values by another.
    Duplicate,
    /// Another message stored a different reading of the patient at that instant.
    Conflict,
}

/// Writes `rows` (in the order given: callers sort them by patient and
/// time, so that concurrent writers take keys in one order), `copy` being
/// the same rows as a binary COPY stream (encoded ahead, [`super::Prepared`]).
/// One fate per row.
pub(super) async fn write(conn: &mut PgConnection, rows: &[ReadingRow<'_>], copy: &[u8]) -> Result<Vec<Written>> {
    let Some(first) = rows.first() else { return Ok(Vec::new()) };
    if !already_stored(conn, first).await? && copy_in(conn, copy).await? {
        return Ok(vec![Written::Stored; rows.len()]);
    }
    insert_idempotent(conn, &ReadingColumns::of(rows), rows).await
}

/// Whether a reading of this patient at this instant is stored already.
async fn already_stored(conn: &mut PgConnection, row: &ReadingRow<'_>) -> Result<bool> {
    let found: bool =
        sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM vital_signs WHERE patient_id = $1 AND measured_at = $2)")
            .bind(row.scored.reading.patient)
            .bind(row.scored.reading.measured_at)
            .fetch_one(&mut *conn)
            .await?;
    Ok(found)
}

/// `COPY`s the readings in inside a savepoint: `true` when all were stored,
/// `false` when one was there already (the savepoint is rolled back and
/// nothing was written).
async fn copy_in(conn: &mut PgConnection, data: &[u8]) -> Result<bool> {
    sqlx::query("SAVEPOINT copy_readings").execute(&mut *conn).await?;
    let copied = async {
        let mut copy = conn.copy_in_raw(&format!("COPY vital_signs ({}) FROM STDIN (FORMAT binary)", *NAMES)).await?;
        copy.send(data).await?;
        copy.finish().await
    }
    .await;
    match copied {
        Ok(_) => {
            sqlx::query("RELEASE SAVEPOINT copy_readings").execute(&mut *conn).await?;
            Ok(true)
        }
        Err(sqlx::Error::Database(e)) if e.is_unique_violation() => {
            sqlx::query("ROLLBACK TO SAVEPOINT copy_readings").execute(&mut *conn).await?;
            Ok(false)
        }
        Err(e) => Err(e.into()),
    }
}

/// `INSERT … ON CONFLICT DO NOTHING`: the rows it returns were stored; of
/// the others, those that differ from the stored reading are conflicts.
async fn insert_idempotent(
    conn: &mut PgConnection,
    columns: &ReadingColumns<'_>,
    rows: &[ReadingRow<'_>],
) -> Result<Vec<Written>> {
    let stored: Vec<(String, i32, i64)> = columns
        .bind(sqlx::query_as(&format!(
            "INSERT INTO vital_signs ({names}) SELECT * FROM {input} \
             ON CONFLICT (patient_id, measured_at) DO NOTHING \
             RETURNING source_topic, source_partition, source_offset",
            names = *NAMES,
            input = *UNNEST,
        )))
        .fetch_all(&mut *conn)
        .await?;
    // A message stands for one reading: its source says which row was stored.
    let mut index: HashMap<Source<'_>, usize> = HashMap::with_capacity(rows.len());
    for (i, row) in rows.iter().enumerate().rev() {
        index.insert(row.source, i);
    }
    let mut written = vec![Written::Duplicate; rows.len()];
    for (topic, partition, offset) in &stored {
        if let Some(&i) = index.get(&Source { topic, partition: *partition, offset: *offset }) {
            written[i] = Written::Stored;
        }
    }
    let rest: Vec<usize> = (0..rows.len()).filter(|&i| written[i] == Written::Duplicate).collect();
    if !rest.is_empty() {
        let others: Vec<ReadingRow<'_>> = rest.iter().map(|&i| rows[i]).collect();
        for n in conflicting(conn, &ReadingColumns::of(&others)).await? {
            written[rest[n]] = Written::Conflict;
        }
    }
    Ok(written)
}

/// Which of these readings (positions from 0) lost to a *different* reading
/// of the same patient at the same instant, from another message: a conflict
/// to explain, not a duplicate to skip. A redelivered message finds itself
/// (same source), and an identical re-send finds the same values.
async fn conflicting(conn: &mut PgConnection, columns: &ReadingColumns<'_>) -> Result<Vec<usize>> {
    let rows: Vec<(i64,)> = columns
        .bind(sqlx::query_as(&format!(
            "SELECT u.n - 1 FROM {input} \
             JOIN vital_signs v ON v.patient_id = u.patient_id AND v.measured_at = u.measured_at \
             WHERE (v.source_topic, v.source_partition, v.source_offset) \
                   <> (u.source_topic, u.source_partition, u.source_offset) \
               AND {differ}",
            input = *UNNEST_NUMBERED,
            differ = *MEASURED_DIFFER,
        )))
        .fetch_all(conn)
        .await?;
    Ok(rows.into_iter().map(|(n,)| n as usize).collect())
}
