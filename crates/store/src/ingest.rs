//! Landing consumed messages: one transaction per batch decides, for every
//! message, one of four fates and records it, so that nothing is lost and
//! everything is explainable:
//!
//! - **stored**: a valid reading of a known patient, in `vital_signs`;
//! - **duplicate**: already stored (a redelivered batch), nothing changes;
//! - **queued**: a valid reading of a patient not known yet, in `ingest_queue`
//!   until the patient's admission lands (same transaction) or a sweep runs;
//! - **quarantined**: a message that can never be stored, byte for byte with
//!   the reason, in `ingest_quarantine`.
//!
//! Every statement is set-based (`UNNEST` of column arrays), so a batch of
//! thousands of readings is a handful of round trips.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::future::Future;
use std::pin::Pin;

use chrono::{DateTime, Utc};
use sqlx::{PgConnection, PgPool, Postgres, Transaction};
use uuid::Uuid;
use vitals::{Admission, AdmissionMessage, DecodeError, News2, Reading, ReadingMessage};

use crate::Result;

/// One consumed Kafka message, copied out of the client.
#[derive(Debug, Clone, PartialEq)]
pub struct Inbound {
    pub topic: String,
    pub partition: i32,
    pub offset: i64,
    pub key: Option<Vec<u8>>,
    pub headers: Vec<(String, Vec<u8>)>,
    pub payload: Vec<u8>,
    pub received_at: DateTime<Utc>,
}

/// Which topic carries what.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Topics {
    pub vitals: String,
    pub patients: String,
}

impl Default for Topics {
    fn default() -> Self {
        Topics { vitals: vitals::wire::VITALS_TOPIC.into(), patients: vitals::wire::PATIENTS_TOPIC.into() }
    }
}

/// What became of a batch.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Landed {
    pub admitted: u64,
    pub stored: u64,
    pub duplicates: u64,
    pub queued: u64,
    pub promoted: u64,
    /// Quarantined messages by error kind (`DecodeError::kind`, or `unknown_topic`).
    pub quarantined: BTreeMap<&'static str, u64>,
}

/// Where a message came from, kept with whatever it becomes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Source<'a> {
    topic: &'a str,
    partition: i32,
    offset: i64,
}

#[derive(Debug)]
struct Rejected<'a> {
    message: &'a Inbound,
    kind: &'static str,
    reason: String,
}

/// Lands a batch in one transaction. Idempotent: landing the same batch again
/// changes nothing and reports the readings as duplicates.
///
/// Should PostgreSQL refuse a value that passed the domain's checks (a data
/// exception: a NUL in a JSON payload, a time beyond its range, …), the
/// batch is landed in halves, recursively, until each refused message stands
/// alone and is quarantined as `refused_by_database`: one bad message never
/// blocks its partition, and costs O(log n) extra transactions.
#[tracing::instrument(skip_all)]
pub async fn land(pool: &PgPool, topics: &Topics, batch: &[Inbound]) -> Result<Landed> {
    land_isolating(pool, topics, batch).await
}

async fn land_once(pool: &PgPool, topics: &Topics, batch: &[Inbound]) -> Result<Landed> {
    let mut tx = pool.begin().await?;
    let landed = land_in(&mut tx, topics, batch).await?;
    tx.commit().await?;
    Ok(landed)
}

/// [`land_once`], and on refused data the two halves the same way (boxed: it recurses).
fn land_isolating<'a>(
    pool: &'a PgPool,
    topics: &'a Topics,
    batch: &'a [Inbound],
) -> Pin<Box<dyn Future<Output = Result<Landed>> + Send + 'a>> {
    Box::pin(async move {
        match land_once(pool, topics, batch).await {
            Err(e) if e.is_refused_data() => match batch {
                [message] => {
                    tracing::warn!(error = %e, topic = message.topic, partition = message.partition,
                        offset = message.offset, "PostgreSQL refused a message; quarantined");
                    let reason = format!("PostgreSQL refused a value of this message: {}", e.database_message());
                    let mut tx = pool.begin().await?;
                    quarantine(&mut tx, &[Rejected { message, kind: REFUSED_BY_DATABASE, reason }]).await?;
                    tx.commit().await?;
                    Ok(Landed { quarantined: BTreeMap::from([(REFUSED_BY_DATABASE, 1)]), ..Landed::default() })
                }
                _ => {
                    let (first, second) = batch.split_at(batch.len() / 2);
                    let mut landed = land_isolating(pool, topics, first).await?;
                    landed.absorb(land_isolating(pool, topics, second).await?);
                    Ok(landed)
                }
            },
            landed => landed,
        }
    })
}

/// The quarantine kind of a reading that lost to a different one at the same instant.
pub const CONFLICT: &str = "conflict";

/// The quarantine kind of a message PostgreSQL itself refused.
pub const REFUSED_BY_DATABASE: &str = "refused_by_database";

impl Landed {
    fn absorb(&mut self, other: Landed) {
        self.admitted += other.admitted;
        self.stored += other.stored;
        self.duplicates += other.duplicates;
        self.queued += other.queued;
        self.promoted += other.promoted;
        for (kind, n) in other.quarantined {
            *self.quarantined.entry(kind).or_default() += n;
        }
    }
}

/// [`land`] inside a transaction the caller commits.
pub async fn land_in(tx: &mut Transaction<'_, Postgres>, topics: &Topics, batch: &[Inbound]) -> Result<Landed> {
    let mut landed = Landed::default();
    let mut admissions: HashMap<Uuid, Admission> = HashMap::new();
    let mut readings: Vec<(Reading, &Inbound)> = Vec::new();
    let mut rejected: Vec<Rejected<'_>> = Vec::new();
    for message in batch {
        let reject = |e: DecodeError| Rejected { message, kind: e.kind(), reason: e.to_string() };
        if message.topic == topics.vitals {
            let reading = ReadingMessage::decode(&message.payload).and_then(|r| {
                vitals::reading::check_received(r.measured_at, message.received_at)?;
                Ok(r)
            });
            match reading {
                Ok(reading) => readings.push((reading, message)),
                Err(e) => rejected.push(reject(e)),
            }
        } else if message.topic == topics.patients {
            match AdmissionMessage::decode(&message.payload) {
                // The latest admission of a patient in the batch wins.
                Ok(admission) => {
                    admissions.insert(admission.patient, admission);
                }
                Err(e) => rejected.push(reject(e)),
            }
        } else {
            rejected.push(Rejected {
                message,
                kind: "unknown_topic",
                reason: format!("topic {:?} carries neither readings nor admissions", message.topic),
            });
        }
    }

    landed.admitted = admit(tx, admissions.values()).await?;
    register_from_readings(tx, &readings).await?;

    // Readings parked earlier whose patient arrived in this batch go first:
    // they came first, so at an instant both claim, the parked one stands.
    let arrived: BTreeSet<Uuid> = admissions
        .keys()
        .copied()
        .chain(readings.iter().filter(|(r, _)| r.name.is_some()).map(|(r, _)| r.patient))
        .collect();
    if !arrived.is_empty() {
        let arrived: Vec<Uuid> = arrived.into_iter().collect();
        landed.absorb(promote(tx, Some(&arrived), i64::MAX).await?);
    }

    let stored = store_or_queue(tx, &readings).await?;
    landed.stored = stored.stored;
    landed.duplicates += stored.duplicates;
    landed.queued = stored.queued;
    rejected.extend(stored.conflicts);

    for r in &rejected {
        *landed.quarantined.entry(r.kind).or_default() += 1;
    }
    quarantine(tx, &rejected).await?;
    Ok(landed)
}

/// Admissions upsert their patient: the admission is the authority on name,
/// bed and admission time, even over a patient a reading registered first.
async fn admit<'a>(conn: &mut PgConnection, admissions: impl Iterator<Item = &'a Admission>) -> Result<u64> {
    let mut admissions: Vec<&Admission> = admissions.collect();
    if admissions.is_empty() {
        return Ok(0);
    }
    // A fixed lock order: two replicas upserting the same patients cannot deadlock.
    admissions.sort_by_key(|a| a.patient);
    let uuids: Vec<Uuid> = admissions.iter().map(|a| a.patient).collect();
    let names: Vec<&str> = admissions.iter().map(|a| a.name.as_str()).collect();
    let beds: Vec<Option<&str>> = admissions.iter().map(|a| a.bed.as_deref()).collect();
    let admitted_at: Vec<DateTime<Utc>> = admissions.iter().map(|a| a.admitted_at).collect();
    let result = sqlx::query(
        "INSERT INTO patients (uuid, name, bed, admitted_at) \
         SELECT * FROM UNNEST($1::uuid[], $2::text[], $3::text[], $4::timestamptz[]) \
         ON CONFLICT (uuid) DO UPDATE SET name = EXCLUDED.name, bed = EXCLUDED.bed, \
             admitted_at = EXCLUDED.admitted_at, updated_at = now() \
         WHERE (patients.name, patients.bed, patients.admitted_at) \
             IS DISTINCT FROM (EXCLUDED.name, EXCLUDED.bed, EXCLUDED.admitted_at)",
    )
    .bind(&uuids)
    .bind(&names)
    .bind(&beds)
    .bind(&admitted_at)
    .execute(conn)
    .await?;
    Ok(result.rows_affected())
}

/// A reading in the original format carries its patient's name: it registers
/// the patient by itself (never overwriting what an admission said).
async fn register_from_readings(conn: &mut PgConnection, readings: &[(Reading, &Inbound)]) -> Result<()> {
    let mut first: BTreeMap<Uuid, (&str, DateTime<Utc>)> = BTreeMap::new();
    for (r, _) in readings {
        if let Some(name) = r.name.as_deref() {
            let entry = first.entry(r.patient).or_insert((name, r.measured_at));
            if r.measured_at < entry.1 {
                *entry = (name, r.measured_at);
            }
        }
    }
    if first.is_empty() {
        return Ok(());
    }
    let uuids: Vec<Uuid> = first.keys().copied().collect();
    let names: Vec<&str> = first.values().map(|(n, _)| *n).collect();
    let at: Vec<DateTime<Utc>> = first.values().map(|(_, t)| *t).collect();
    sqlx::query(
        "INSERT INTO patients (uuid, name, admitted_at) \
         SELECT * FROM UNNEST($1::uuid[], $2::text[], $3::timestamptz[]) \
         ON CONFLICT (uuid) DO NOTHING",
    )
    .bind(&uuids)
    .bind(&names)
    .bind(&at)
    .execute(conn)
    .await?;
    Ok(())
}

#[derive(Debug, Default)]
struct Outcome<'m> {
    stored: u64,
    duplicates: u64,
    queued: u64,
    /// Readings that lost to a different one at the same instant.
    conflicts: Vec<Rejected<'m>>,
}

/// Column arrays of readings, for one `UNNEST`.
#[derive(Default)]
struct ReadingColumns<'a> {
    patient: Vec<Uuid>,
    measured_at: Vec<DateTime<Utc>>,
    pulse: Vec<i16>,
    resp_rate: Vec<i16>,
    systolic: Vec<i16>,
    diastolic: Vec<i16>,
    spo2: Vec<i16>,
    temperature: Vec<f64>,
    on_oxygen: Vec<Option<bool>>,
    acvpu: Vec<Option<String>>,
    news2: Vec<i16>,
    band: Vec<&'static str>,
    trace_id: Vec<Option<String>>,
    span_id: Vec<Option<String>>,
    topic: Vec<&'a str>,
    partition: Vec<i32>,
    offset: Vec<i64>,
    // For the queue: the message as it came.
    payload: Vec<String>,
    key: Vec<Option<String>>,
    headers: Vec<String>,
    received_at: Vec<DateTime<Utc>>,
}

impl<'a> ReadingColumns<'a> {
    /// Adds a reading; its raw message too when it may have to be queued.
    fn push(&mut self, r: &Reading, source: Source<'a>, raw: RawParts<'_>, queueable: bool) {
        let score = News2::of(r);
        let (trace_id, span_id) = raw.trace_context();
        self.patient.push(r.patient);
        self.measured_at.push(r.measured_at);
        // The domain bounds every value well inside smallint.
        self.pulse.push(r.pulse as i16);
        self.resp_rate.push(r.resp_rate as i16);
        self.systolic.push(r.bp.systolic as i16);
        self.diastolic.push(r.bp.diastolic as i16);
        self.spo2.push(i16::from(r.spo2));
        self.temperature.push(r.temperature);
        self.on_oxygen.push(r.on_oxygen);
        self.acvpu.push(r.acvpu.map(|a| format!("{a:?}")));
        self.news2.push(i16::from(score.total));
        self.band.push(score.band.as_str());
        self.trace_id.push(trace_id);
        self.span_id.push(span_id);
        self.topic.push(source.topic);
        self.partition.push(source.partition);
        self.offset.push(source.offset);
        if queueable {
            self.payload.push(String::from_utf8_lossy(raw.payload).into_owned());
            self.key.push(raw.key.map(|k| printable(&String::from_utf8_lossy(k))));
            self.headers.push(headers_json(raw.headers));
            self.received_at.push(raw.received_at);
        }
    }
}

/// The raw parts of a message that travel with a reading.
#[derive(Clone, Copy)]
struct RawParts<'a> {
    payload: &'a [u8],
    key: Option<&'a [u8]>,
    headers: &'a [(String, Vec<u8>)],
    received_at: DateTime<Utc>,
}

impl RawParts<'_> {
    fn of(m: &Inbound) -> RawParts<'_> {
        RawParts { payload: &m.payload, key: m.key.as_deref(), headers: &m.headers, received_at: m.received_at }
    }

    /// Trace and span id of a W3C `traceparent` header (`00-<trace>-<span>-<flags>`).
    fn trace_context(&self) -> (Option<String>, Option<String>) {
        let Some((_, value)) = self.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case("traceparent")) else {
            return (None, None);
        };
        let value = String::from_utf8_lossy(value);
        let parts: Vec<&str> = value.trim().split('-').collect();
        match parts.as_slice() {
            [_, trace, span, _] if trace.len() == 32 && span.len() == 16 => {
                (Some((*trace).to_owned()), Some((*span).to_owned()))
            }
            _ => (None, None),
        }
    }
}

/// Headers as a JSON object. A value that is not text PostgreSQL can hold
/// (not UTF-8, or holding a NUL, which `jsonb` refuses) is kept exactly, as
/// `{"hex": "…"}`. Names arrive as text (the consumer reads them lossily);
/// a NUL in one, which `jsonb` would refuse, becomes U+FFFD.
fn headers_json(headers: &[(String, Vec<u8>)]) -> String {
    let map: serde_json::Map<String, serde_json::Value> = headers
        .iter()
        .map(|(k, v)| {
            let value = match std::str::from_utf8(v) {
                Ok(text) if !text.contains('\0') => serde_json::Value::from(text),
                _ => serde_json::json!({ "hex": v.iter().map(|b| format!("{b:02x}")).collect::<String>() }),
            };
            (k.replace('\0', "\u{FFFD}"), value)
        })
        .collect();
    serde_json::Value::Object(map).to_string()
}

/// The bytes of a header value as [`headers_json`] kept it.
fn header_bytes(value: &serde_json::Value) -> Vec<u8> {
    if let Some(text) = value.as_str() {
        return text.as_bytes().to_vec();
    }
    let hex = value.get("hex").and_then(serde_json::Value::as_str).unwrap_or_default();
    (0..hex.len() / 2).filter_map(|i| u8::from_str_radix(hex.get(2 * i..2 * i + 2)?, 16).ok()).collect()
}

/// Text PostgreSQL's `text` type accepts: a NUL is written as `\0`.
fn printable(text: &str) -> String {
    text.replace('\0', "\\0")
}

const READING_INPUT: &str = "SELECT * FROM UNNEST($1::uuid[], $2::timestamptz[], $3::int2[], $4::int2[], \
     $5::int2[], $6::int2[], $7::int2[], $8::float8[], $9::bool[], $10::text[], $11::int2[], $12::text[], \
     $13::text[], $14::text[], $15::text[], $16::int4[], $17::int8[], $18::text[], $19::text[], $20::text[], \
     $21::timestamptz[]) AS u(patient_id, measured_at, pulse, resp_rate, bp_systolic, bp_diastolic, spo2, \
     temperature, on_oxygen, acvpu, news2, news2_band, trace_id, span_id, topic, partition, \"offset\", \
     payload, message_key, headers, received_at)";

/// Binds the stored columns (`$1`–`$17`) to a `query` or a `query_as`.
macro_rules! bind_stored {
    ($query:expr, $c:expr) => {
        $query
            .bind(&$c.patient)
            .bind(&$c.measured_at)
            .bind(&$c.pulse)
            .bind(&$c.resp_rate)
            .bind(&$c.systolic)
            .bind(&$c.diastolic)
            .bind(&$c.spo2)
            .bind(&$c.temperature)
            .bind(&$c.on_oxygen)
            .bind(&$c.acvpu)
            .bind(&$c.news2)
            .bind(&$c.band)
            .bind(&$c.trace_id)
            .bind(&$c.span_id)
            .bind(&$c.topic)
            .bind(&$c.partition)
            .bind(&$c.offset)
    };
}

/// The stored columns (`$1`–`$17`, bound by [`bind_stored`]) as rows named
/// like [`STORED_COLUMNS`].
const STORED_INPUT: &str = "UNNEST($1::uuid[], $2::timestamptz[], $3::int2[], $4::int2[], $5::int2[], \
     $6::int2[], $7::int2[], $8::float8[], $9::bool[], $10::text[], $11::int2[], $12::text[], $13::text[], \
     $14::text[], $15::text[], $16::int4[], $17::int8[])";

/// Column list of a stored reading, in `READING_INPUT`'s order.
const STORED_COLUMNS: &str = "patient_id, measured_at, pulse, resp_rate, bp_systolic, bp_diastolic, spo2, \
     temperature, on_oxygen, acvpu, news2, news2_band, trace_id, span_id, source_topic, source_partition, \
     source_offset";

/// Stores readings of known patients and parks the others.
///
/// A reading that names its patient registered that patient earlier in this
/// transaction, so it can only be stored (or be a duplicate): those go in
/// one plain `INSERT … SELECT FROM UNNEST`, without their raw message and
/// without a lookup of their patient. The profile of the ingest benchmark
/// showed this statement is nearly all of a batch's time, and the combined
/// store-or-park statement (which must materialise its input, raw payloads
/// included, to read it twice) cost about twice as much per row.
async fn store_or_queue<'m>(conn: &mut PgConnection, readings: &[(Reading, &'m Inbound)]) -> Result<Outcome<'m>> {
    let (named, nameless): (Vec<_>, Vec<_>) = readings.iter().partition(|(r, _)| r.name.is_some());
    let mut outcome = Outcome::default();
    if !named.is_empty() {
        let mut c = ReadingColumns::default();
        for (r, m) in &named {
            c.push(r, Source { topic: &m.topic, partition: m.partition, offset: m.offset }, RawParts::of(m), false);
        }
        let sql = format!(
            "INSERT INTO vital_signs ({STORED_COLUMNS}) \
             SELECT * FROM {STORED_INPUT} \
             ON CONFLICT (patient_id, measured_at) DO NOTHING"
        );
        let stored = bind_stored!(sqlx::query(&sql), c).execute(&mut *conn).await?.rows_affected();
        outcome.stored += stored;
        let mut duplicates = named.len() as u64 - stored;
        outcome.conflicts.extend(conflicts(conn, &c, |i| named[i].1, &mut duplicates).await?);
        outcome.duplicates += duplicates;
    }
    if nameless.is_empty() {
        return Ok(outcome);
    }
    let mut c = ReadingColumns::default();
    for (r, m) in &nameless {
        c.push(r, Source { topic: &m.topic, partition: m.partition, offset: m.offset }, RawParts::of(m), true);
    }
    let sql = format!(
        "WITH input AS ({READING_INPUT}), \
         known AS (SELECT i.* FROM input i WHERE EXISTS (SELECT 1 FROM patients p WHERE p.uuid = i.patient_id)), \
         stored AS ( \
             INSERT INTO vital_signs ({STORED_COLUMNS}) \
             SELECT patient_id, measured_at, pulse, resp_rate, bp_systolic, bp_diastolic, spo2, temperature, \
                 on_oxygen, acvpu, news2, news2_band, trace_id, span_id, topic, partition, \"offset\" FROM known \
             ON CONFLICT (patient_id, measured_at) DO NOTHING RETURNING 1), \
         queued AS ( \
             INSERT INTO ingest_queue (patient_id, payload, message_key, headers, topic, partition, \"offset\", \
                 received_at) \
             SELECT patient_id, payload::jsonb, message_key, headers::jsonb, topic, partition, \"offset\", \
                 received_at FROM input i \
             WHERE NOT EXISTS (SELECT 1 FROM patients p WHERE p.uuid = i.patient_id) \
             ON CONFLICT (topic, partition, \"offset\") DO NOTHING RETURNING 1) \
         SELECT (SELECT count(*) FROM known), (SELECT count(*) FROM stored), (SELECT count(*) FROM queued)"
    );
    let (known, stored, queued): (i64, i64, i64) =
        bind_readings(sqlx::query_as(&sql), &c).fetch_one(&mut *conn).await?;
    outcome.stored += stored as u64;
    outcome.queued += queued as u64;
    // Unknown but not queued: already parked (a redelivery), a duplicate too.
    outcome.duplicates += nameless.len() as u64 - known as u64 - queued as u64;
    let mut duplicates = (known - stored) as u64;
    outcome.conflicts.extend(conflicts(conn, &c, |i| nameless[i].1, &mut duplicates).await?);
    outcome.duplicates += duplicates;
    Ok(outcome)
}

/// Which of these readings were not stored because a *different* reading of
/// the same patient at the same instant was (from another message, with other
/// values): a conflict to explain, not a duplicate to skip. A redelivered
/// message finds itself (same source) and an identical re-send finds the same
/// values; neither is a conflict. Readings that were parked are not
/// candidates: they were neither stored nor refused.
async fn conflicting(conn: &mut PgConnection, c: &ReadingColumns<'_>) -> Result<Vec<usize>> {
    let sql = format!(
        "SELECT u.n - 1 FROM {STORED_INPUT} WITH ORDINALITY AS u({STORED_COLUMNS}, n) \
         JOIN vital_signs v ON v.patient_id = u.patient_id AND v.measured_at = u.measured_at \
         WHERE (v.source_topic, v.source_partition, v.source_offset) \
               <> (u.source_topic, u.source_partition, u.source_offset) \
           AND NOT EXISTS (SELECT 1 FROM ingest_queue q \
               WHERE (q.topic, q.partition, q.\"offset\") = (u.source_topic, u.source_partition, u.source_offset)) \
           AND (v.pulse, v.resp_rate, v.bp_systolic, v.bp_diastolic, v.spo2, v.temperature, v.on_oxygen, v.acvpu) \
               IS DISTINCT FROM \
               (u.pulse, u.resp_rate, u.bp_systolic, u.bp_diastolic, u.spo2, u.temperature, u.on_oxygen, u.acvpu)"
    );
    let rows: Vec<i64> = bind_stored!(sqlx::query_scalar(&sql), c).fetch_all(conn).await?;
    Ok(rows.into_iter().map(|n| n as usize).collect())
}

/// Turns the duplicates among the readings in `c` (`message(i)` is the
/// message of reading `i`) that are really
/// conflicts into rejections, and takes them off `duplicates`.
async fn conflicts<'m>(
    conn: &mut PgConnection,
    c: &ReadingColumns<'_>,
    message: impl Fn(usize) -> &'m Inbound,
    duplicates: &mut u64,
) -> Result<Vec<Rejected<'m>>> {
    if *duplicates == 0 {
        return Ok(Vec::new());
    }
    let found = conflicting(conn, c).await?;
    *duplicates = duplicates.saturating_sub(found.len() as u64);
    Ok(found
        .into_iter()
        .map(|i| Rejected { message: message(i), kind: CONFLICT, reason: conflict_reason(c, i) })
        .collect())
}

fn conflict_reason(c: &ReadingColumns<'_>, i: usize) -> String {
    format!(
        "patient {} already has a different reading at {} (from another message); a monitor measures once per \
         instant, so the first one stands",
        c.patient[i], c.measured_at[i]
    )
}

fn bind_readings<'q, O>(
    query: sqlx::query::QueryAs<'q, Postgres, O, sqlx::postgres::PgArguments>,
    c: &'q ReadingColumns<'_>,
) -> sqlx::query::QueryAs<'q, Postgres, O, sqlx::postgres::PgArguments> {
    bind_stored!(query, c).bind(&c.payload).bind(&c.key).bind(&c.headers).bind(&c.received_at)
}

#[derive(sqlx::FromRow)]
struct QueuedRow {
    id: i64,
    payload: serde_json::Value,
    message_key: Option<String>,
    headers: serde_json::Value,
    topic: String,
    partition: i32,
    offset: i64,
    received_at: DateTime<Utc>,
}

/// Moves queued readings whose patient is now known into `vital_signs`
/// (`patients` limits it to those patients). Rows another transaction holds
/// are skipped, not waited for, so many replicas can promote at once. What
/// becomes of each is reported like a landing: promoted, duplicate, or
/// quarantined (no longer valid, or in conflict with a stored reading).
async fn promote(conn: &mut PgConnection, patients: Option<&[Uuid]>, limit: i64) -> Result<Landed> {
    let rows: Vec<QueuedRow> = sqlx::query_as(
        "SELECT q.id, q.payload, q.message_key, q.headers, q.topic, q.partition, q.\"offset\", q.received_at \
         FROM ingest_queue q \
         WHERE ($1::uuid[] IS NULL OR q.patient_id = ANY($1)) \
           AND EXISTS (SELECT 1 FROM patients p WHERE p.uuid = q.patient_id) \
         ORDER BY q.id LIMIT $2 FOR UPDATE OF q SKIP LOCKED",
    )
    .bind(patients)
    .bind(limit)
    .fetch_all(&mut *conn)
    .await?;
    let mut landed = Landed::default();
    if rows.is_empty() {
        return Ok(landed);
    }
    // The queued messages as they came, for storing or for quarantine.
    let messages: Vec<Inbound> = rows
        .iter()
        .map(|row| Inbound {
            topic: row.topic.clone(),
            partition: row.partition,
            offset: row.offset,
            key: row.message_key.as_ref().map(|k| k.as_bytes().to_vec()),
            headers: match &row.headers {
                serde_json::Value::Object(map) => map.iter().map(|(k, v)| (k.clone(), header_bytes(v))).collect(),
                _ => Vec::new(),
            },
            payload: row.payload.to_string().into_bytes(),
            received_at: row.received_at,
        })
        .collect();
    let mut c = ReadingColumns::default();
    let mut promoted: Vec<&Inbound> = Vec::with_capacity(rows.len());
    let mut rejected: Vec<Rejected<'_>> = Vec::new();
    for message in &messages {
        // Queued payloads were decoded once already; a failure here means the
        // domain's rules changed since. Left queued, such a row would come
        // first in every sweep forever: it goes to quarantine instead.
        match ReadingMessage::decode(&message.payload) {
            Ok(reading) => {
                let source = Source { topic: &message.topic, partition: message.partition, offset: message.offset };
                c.push(&reading, source, RawParts::of(message), true);
                promoted.push(message);
            }
            Err(e) => rejected.push(Rejected {
                message,
                kind: e.kind(),
                reason: format!("queued, then no longer valid: {e}"),
            }),
        }
    }
    if !promoted.is_empty() {
        let sql = format!(
            "WITH input AS ({READING_INPUT}), \
             stored AS ( \
                 INSERT INTO vital_signs ({STORED_COLUMNS}) \
                 SELECT patient_id, measured_at, pulse, resp_rate, bp_systolic, bp_diastolic, spo2, temperature, \
                     on_oxygen, acvpu, news2, news2_band, trace_id, span_id, topic, partition, \"offset\" FROM input \
                 ON CONFLICT (patient_id, measured_at) DO NOTHING RETURNING 1) \
             SELECT count(*) FROM stored"
        );
        let (stored,): (i64,) = bind_readings(sqlx::query_as(&sql), &c).fetch_one(&mut *conn).await?;
        landed.promoted = stored as u64;
        landed.duplicates = promoted.len() as u64 - landed.promoted;
    }
    let ids: Vec<i64> = rows.iter().map(|row| row.id).collect();
    sqlx::query("DELETE FROM ingest_queue WHERE id = ANY($1)").bind(&ids).execute(&mut *conn).await?;
    // After the delete: `conflicting` passes over readings still queued.
    rejected.extend(conflicts(conn, &c, |i| promoted[i], &mut landed.duplicates).await?);
    if !rejected.is_empty() {
        tracing::warn!(messages = rejected.len(), "queued readings could not be promoted; quarantined");
        for r in &rejected {
            *landed.quarantined.entry(r.kind).or_default() += 1;
        }
        quarantine(conn, &rejected).await?;
    }
    Ok(landed)
}

async fn quarantine(conn: &mut PgConnection, rejected: &[Rejected<'_>]) -> Result<()> {
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

/// Promotes up to `limit` queued readings whose patient is known by now: the
/// safety net for a reading queued while another replica was admitting its
/// patient. Safe to run from many replicas at once.
pub async fn sweep(pool: &PgPool, limit: i64) -> Result<Landed> {
    let mut tx = pool.begin().await?;
    let swept = promote(&mut tx, None, limit).await?;
    tx.commit().await?;
    Ok(swept)
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
