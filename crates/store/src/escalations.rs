//! Which patients are escalated, and since when, as the stored readings say:
//! the newest reading's band, and for an escalated patient the first reading
//! after their newest low one (the start of the current run).
//!
//! Cost per patient: one index descent for the newest reading; for an
//! escalated patient, a backward walk of the primary key over the current
//! run (until its newest low reading) and one more descent. A ward with no
//! escalated patient costs one descent per patient; a patient escalated for
//! a day at one reading every 5 s costs ≈ 17,000 index entries. The
//! monitor-service runs this at start, when its feed of announcements had a
//! gap, and for single patients whose readings arrived out of order; it does
//! not run per request while that feed is current.

use chrono::{DateTime, Utc};
use sqlx::PgPool;
use uuid::Uuid;
use vitals::RiskBand;
use vitals::escalation::Derived;

/// `$1`: the patients (NULL: all); `$2`: the text of the low band.
pub const ESCALATIONS: &str = "\
SELECT p.uuid AS patient, l.measured_at AS latest, l.news2_band AS band,
       CASE WHEN l.news2_band <> $2 THEN (
           SELECT r.measured_at FROM vital_signs r
            WHERE r.patient_id = p.uuid
              AND r.measured_at > COALESCE((
                  SELECT q.measured_at FROM vital_signs q
                   WHERE q.patient_id = p.uuid AND q.measured_at < l.measured_at AND q.news2_band = $2
                   ORDER BY q.measured_at DESC LIMIT 1), '-infinity'::timestamptz)
            ORDER BY r.measured_at LIMIT 1)
       END AS since
  FROM patients p
  JOIN LATERAL (SELECT v.measured_at, v.news2_band FROM vital_signs v
                 WHERE v.patient_id = p.uuid ORDER BY v.measured_at DESC LIMIT 1) l ON true
 WHERE $1::uuid[] IS NULL OR p.uuid = ANY($1)";

#[derive(sqlx::FromRow)]
struct Row {
    patient: Uuid,
    latest: DateTime<Utc>,
    band: String,
    since: Option<DateTime<Utc>>,
}

/// Every patient with readings (or those of `only`), with the escalation
/// their readings are in. A patient without readings is not listed.
pub async fn derive(pool: &PgPool, only: Option<&[Uuid]>) -> crate::Result<Vec<(Uuid, Derived)>> {
    let rows: Vec<Row> = sqlx::query_as(ESCALATIONS).bind(only).bind(RiskBand::Low.as_str()).fetch_all(pool).await?;
    Ok(rows.into_iter().map(|r| (r.patient, Derived::new(r.latest, band_of(&r.band), r.since))).collect())
}

/// The band of a stored reading. The data-service writes only the domain's
/// bands; should another writer store something else, the patient is
/// treated as escalated (an alert too many rather than one missed).
pub fn band_of(stored: &str) -> RiskBand {
    stored.parse().unwrap_or_else(|e| {
        tracing::warn!(band = stored, error = %e, "a stored reading has an unknown NEWS2 band; taken as medium");
        RiskBand::Medium
    })
}
