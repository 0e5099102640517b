//! The ward's read queries, for the monitor-service's API.
//!
//! Every query walks the primary key of `vital_signs` (`patient_id`,
//! `measured_at`) backwards from a bound, so its cost depends on the rows it
//! returns, not on how many readings the table holds: "latest per patient" is
//! one short index descent per patient (a LATERAL join), never a GROUP BY
//! over the whole table, and a page of readings is a keyset range scan, never
//! an OFFSET.

use chrono::{DateTime, Utc};
use sqlx::PgPool;
use uuid::Uuid;

/// One stored reading, as the API shows it.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct StoredReading {
    pub measured_at: DateTime<Utc>,
    pub pulse: i16,
    pub resp_rate: i16,
    pub bp_systolic: i16,
    pub bp_diastolic: i16,
    pub spo2: i16,
    pub temperature: f64,
    pub on_oxygen: Option<bool>,
    pub acvpu: Option<String>,
    pub news2: i16,
    pub news2_band: String,
    /// W3C trace and span id of the `send` span that published the reading,
    /// as its `traceparent` header named them (none for untraced producers).
    pub trace_id: Option<String>,
    pub span_id: Option<String>,
}

/// A patient with their latest reading, if any.
#[derive(Debug, Clone, PartialEq)]
pub struct PatientSummary {
    pub uuid: Uuid,
    pub name: String,
    pub bed: Option<String>,
    pub admitted_at: DateTime<Utc>,
    pub latest: Option<StoredReading>,
}

/// Which readings of one patient to return: `from <= measured_at < before`,
/// newest first, at most `limit`. The caller folds the range's end and a
/// paging cursor into `before` (the smaller of the two), so the database sees
/// one upper bound it can start the index scan at.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ReadingRange {
    pub from: Option<DateTime<Utc>>,
    pub before: Option<DateTime<Utc>>,
    pub limit: u32,
}

/// The reading columns, selected once so the three queries cannot disagree.
macro_rules! reading_columns {
    ($alias:literal) => {
        concat!(
            $alias,
            ".measured_at, ",
            $alias,
            ".pulse, ",
            $alias,
            ".resp_rate, ",
            $alias,
            ".bp_systolic, ",
            $alias,
            ".bp_diastolic, ",
            $alias,
            ".spo2, ",
            $alias,
            ".temperature, ",
            $alias,
            ".on_oxygen, ",
            $alias,
            ".acvpu, ",
            $alias,
            ".news2, ",
            $alias,
            ".news2_band, ",
            $alias,
            ".trace_id, ",
            $alias,
            ".span_id"
        )
    };
}

/// Patients and the newest reading of each. `ORDER BY … DESC LIMIT 1` inside
/// the LATERAL subquery is a backward scan of the primary key that stops at
/// its first row.
macro_rules! patients_with_latest {
    ($where:literal) => {
        concat!(
            "SELECT p.uuid, p.name, p.bed, p.admitted_at, ",
            reading_columns!("v"),
            " FROM patients p LEFT JOIN LATERAL (SELECT ",
            reading_columns!("r"),
            " FROM vital_signs r WHERE r.patient_id = p.uuid ORDER BY r.measured_at DESC LIMIT 1) v ON true ",
            $where
        )
    };
}

/// The ward list (public for `EXPLAIN` in the API benchmark).
pub const ALL_PATIENTS: &str = patients_with_latest!("ORDER BY p.bed NULLS LAST, p.name, p.uuid");
pub const ONE_PATIENT: &str = patients_with_latest!("WHERE p.uuid = $1");

/// One round trip answers both "does the patient exist" and "which readings":
/// no row means no such patient, one row of NULLs means a patient with no
/// readings in the range. The bounds are COALESCEd to infinities rather than
/// written as `$n IS NULL OR …`, so that even a generic (cached) plan keeps
/// both as index conditions instead of filtering row by row.
pub const READINGS: &str = concat!(
    "SELECT ",
    reading_columns!("v"),
    " FROM patients p LEFT JOIN LATERAL (SELECT ",
    reading_columns!("r"),
    " FROM vital_signs r WHERE r.patient_id = p.uuid",
    " AND r.measured_at >= COALESCE($2, '-infinity'::timestamptz)",
    " AND r.measured_at < COALESCE($3, 'infinity'::timestamptz)",
    " ORDER BY r.measured_at DESC LIMIT $4) v ON true",
    " WHERE p.uuid = $1"
);

/// A row of a LEFT JOIN: patient columns always, reading columns maybe.
#[derive(sqlx::FromRow)]
struct PatientRow {
    uuid: Uuid,
    name: String,
    bed: Option<String>,
    admitted_at: DateTime<Utc>,
    #[sqlx(flatten)]
    reading: MaybeReading,
}

#[derive(sqlx::FromRow)]
struct MaybeReading {
    measured_at: Option<DateTime<Utc>>,
    pulse: Option<i16>,
    resp_rate: Option<i16>,
    bp_systolic: Option<i16>,
    bp_diastolic: Option<i16>,
    spo2: Option<i16>,
    temperature: Option<f64>,
    on_oxygen: Option<bool>,
    acvpu: Option<String>,
    news2: Option<i16>,
    news2_band: Option<String>,
    trace_id: Option<String>,
    span_id: Option<String>,
}

impl MaybeReading {
    /// The reading, or `None` when the LEFT JOIN found none (every NOT NULL
    /// column is then NULL).
    fn into_reading(self) -> Option<StoredReading> {
        Some(StoredReading {
            measured_at: self.measured_at?,
            pulse: self.pulse?,
            resp_rate: self.resp_rate?,
            bp_systolic: self.bp_systolic?,
            bp_diastolic: self.bp_diastolic?,
            spo2: self.spo2?,
            temperature: self.temperature?,
            on_oxygen: self.on_oxygen,
            acvpu: self.acvpu,
            news2: self.news2?,
            news2_band: self.news2_band?,
            trace_id: self.trace_id,
            span_id: self.span_id,
        })
    }
}

impl From<PatientRow> for PatientSummary {
    fn from(row: PatientRow) -> Self {
        PatientSummary {
            uuid: row.uuid,
            name: row.name,
            bed: row.bed,
            admitted_at: row.admitted_at,
            latest: row.reading.into_reading(),
        }
    }
}

/// Every patient on the ward with their latest reading, by bed then name.
pub async fn patients(pool: &PgPool) -> crate::Result<Vec<PatientSummary>> {
    let rows: Vec<PatientRow> = sqlx::query_as(ALL_PATIENTS).fetch_all(pool).await?;
    Ok(rows.into_iter().map(PatientSummary::from).collect())
}

/// One patient with their latest reading; `None` when the ward never saw them.
pub async fn patient(pool: &PgPool, uuid: Uuid) -> crate::Result<Option<PatientSummary>> {
    let row: Option<PatientRow> = sqlx::query_as(ONE_PATIENT).bind(uuid).fetch_optional(pool).await?;
    Ok(row.map(PatientSummary::from))
}

/// A patient's readings in `range`, newest first; `None` when the ward never
/// saw the patient (as opposed to `Some(vec![])`: known, nothing in range).
pub async fn readings(pool: &PgPool, patient: Uuid, range: ReadingRange) -> crate::Result<Option<Vec<StoredReading>>> {
    let rows: Vec<MaybeReading> = sqlx::query_as(READINGS)
        .bind(patient)
        .bind(range.from)
        .bind(range.before)
        .bind(i64::from(range.limit))
        .fetch_all(pool)
        .await?;
    if rows.is_empty() {
        return Ok(None);
    }
    Ok(Some(rows.into_iter().filter_map(MaybeReading::into_reading).collect()))
}

/// A patient's name; `None` when the ward never saw them.
pub async fn patient_name(pool: &PgPool, uuid: Uuid) -> crate::Result<Option<String>> {
    Ok(sqlx::query_scalar("SELECT name FROM patients WHERE uuid = $1").bind(uuid).fetch_optional(pool).await?)
}

/// A patient as admitted: who, where, since when.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct AdmittedPatient {
    pub uuid: Uuid,
    pub name: String,
    pub bed: Option<String>,
    pub admitted_at: DateTime<Utc>,
}

/// A stored reading with its patient, for the live stream.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct PatientReading {
    pub patient_id: Uuid,
    #[sqlx(flatten)]
    pub reading: StoredReading,
}

/// The readings with these keys (one primary-key probe each), in the order
/// of `keys`; a reading deleted since it was announced is left out.
pub const READINGS_BY_KEY: &str = concat!(
    "SELECT r.patient_id, ",
    reading_columns!("r"),
    " FROM UNNEST($1::uuid[], $2::timestamptz[]) WITH ORDINALITY AS k(patient_id, measured_at, n)",
    " JOIN vital_signs r ON r.patient_id = k.patient_id AND r.measured_at = k.measured_at",
    " ORDER BY k.n"
);

/// The stored readings named by an announcement ([`crate::changes::ReadingsChanged::Stored`]).
pub async fn readings_by_key(pool: &PgPool, keys: &[crate::changes::ReadingKey]) -> crate::Result<Vec<PatientReading>> {
    let patients: Vec<Uuid> = keys.iter().map(|k| k.patient).collect();
    let instants: Vec<DateTime<Utc>> = keys.iter().map(|k| k.measured_at).collect();
    Ok(sqlx::query_as(READINGS_BY_KEY).bind(&patients).bind(&instants).fetch_all(pool).await?)
}

/// These patients as admitted, in the order of `uuids` (unknown ones left out).
pub async fn admitted(pool: &PgPool, uuids: &[Uuid]) -> crate::Result<Vec<AdmittedPatient>> {
    Ok(sqlx::query_as(
        "SELECT p.uuid, p.name, p.bed, p.admitted_at FROM UNNEST($1::uuid[]) WITH ORDINALITY AS k(uuid, n) \
         JOIN patients p ON p.uuid = k.uuid ORDER BY k.n",
    )
    .bind(uuids)
    .fetch_all(pool)
    .await?)
}
