//! The ward as Prometheus gauges, for the Grafana ward and patient
//! dashboards and the clinical alert rules: per patient the latest value of
//! each vital, NEWS2, the worst single parameter's score, the latest
//! reading's age and whether the patient is stale.
//!
//! Exported by the monitor-service because it already reads the ward for
//! the API and knows what "stale" means there (`METRICS_INTERVAL`); the
//! data-service only sees batches, and a per-patient gauge there would be
//! split across its replicas by partition.
//!
//! Computed at scrape time, not per reading: one ward query (the API's own,
//! one index descent per patient), reused for [`FRESH_FOR`] so that several
//! scrapers cost one query. Nothing is computed while nobody scrapes.
//!
//! Bounded: at most `WARD_GAUGES_MAX_PATIENTS` patients get series
//! ([`SERIES_PER_PATIENT`] each), the worst first (highest NEWS2, then the
//! oldest reading, then those without any reading), so a ward that grows beyond the bound keeps the patients
//! a dashboard must show; `icu_ward_patients` still counts everyone.

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::Response;
use chrono::{DateTime, TimeDelta, Utc};
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::gauge::{ConstGauge, Gauge};
use prometheus_client::registry::Registry;
use sqlx::PgPool;
use store::ward::{PatientSummary, StoredReading};
use vitals::news2::{self, Acvpu};

/// A snapshot younger than this is served again instead of querying anew.
pub const FRESH_FOR: Duration = Duration::from_secs(1);
/// A ward query taking longer than this is abandoned (the scrape answers
/// without the ward rather than time out as a whole).
const QUERY_TIMEOUT: Duration = Duration::from_secs(3);
/// Series per patient with a reading (six vitals, NEWS2, worst parameter,
/// age, stale); a patient without any reading has only `stale`.
pub const SERIES_PER_PATIENT: usize = 10;

/// One patient's values, as exported.
#[derive(Debug, Clone, PartialEq)]
struct Bed {
    patient: String,
    bed: String,
    stale: bool,
    latest: Option<Latest>,
}

#[derive(Debug, Clone, PartialEq)]
struct Latest {
    pulse: i64,
    resp_rate: i64,
    bp_systolic: i64,
    bp_diastolic: i64,
    spo2: i64,
    temperature: f64,
    news2: i64,
    worst_parameter: i64,
    age_seconds: f64,
}

#[derive(Debug, Default)]
struct Snapshot {
    patients: i64,
    beds: Vec<Bed>,
}

#[derive(Debug)]
struct Shared {
    snapshot: Mutex<Arc<Snapshot>>,
}

impl Shared {
    fn current(&self) -> Arc<Snapshot> {
        self.lock().clone()
    }

    fn replace(&self, snapshot: Snapshot) {
        *self.lock() = Arc::new(snapshot);
    }

    fn lock(&self) -> MutexGuard<'_, Arc<Snapshot>> {
        // Poisoned only by a panic while held, and a panic ends the process
        // (telemetry::panic); held only to clone or swap an Arc.
        self.snapshot.lock().expect("the ward snapshot lock is never poisoned")
    }
}

/// Keeps the snapshot and refreshes it before a scrape.
#[derive(Debug)]
pub struct WardGauges {
    pool: PgPool,
    stale_after: TimeDelta,
    max_patients: usize,
    shared: Arc<Shared>,
    /// When the snapshot was last taken; held while a query runs, so
    /// concurrent scrapes wait for one query instead of each making theirs.
    taken: tokio::sync::Mutex<Option<Instant>>,
    failures: Counter,
    query_seconds: Gauge<f64, std::sync::atomic::AtomicU64>,
}

impl WardGauges {
    pub fn register(
        registry: &mut Registry,
        pool: PgPool,
        stale_after: Duration,
        max_patients: usize,
    ) -> Arc<WardGauges> {
        let shared = Arc::new(Shared { snapshot: Mutex::new(Arc::new(Snapshot::default())) });
        let gauges = WardGauges {
            pool,
            stale_after: TimeDelta::from_std(stale_after).unwrap_or(TimeDelta::MAX),
            max_patients,
            shared: shared.clone(),
            taken: tokio::sync::Mutex::new(None),
            failures: Counter::default(),
            query_seconds: Gauge::default(),
        };
        registry.register(
            "icu_ward_gauges_query_failures",
            "Ward queries for the ward gauges that failed or timed out (the scrape then has no ward series)",
            gauges.failures.clone(),
        );
        registry.register(
            "icu_ward_gauges_query_seconds",
            "Duration of the last ward query for the ward gauges",
            gauges.query_seconds.clone(),
        );
        registry.register_collector(Box::new(WardCollector(shared)));
        Arc::new(gauges)
    }

    /// Takes a new snapshot unless the current one is fresh enough.
    pub async fn refresh(&self) {
        let mut taken = self.taken.lock().await;
        if taken.is_some_and(|t| t.elapsed() < FRESH_FOR) {
            return;
        }
        let started = Instant::now();
        let answer = tokio::time::timeout(QUERY_TIMEOUT, store::ward::patients(&self.pool)).await;
        self.query_seconds.set(started.elapsed().as_secs_f64());
        let snapshot = match answer {
            Ok(Ok(patients)) => snapshot(patients, Utc::now(), self.stale_after, self.max_patients),
            Ok(Err(e)) => {
                self.failures.inc();
                tracing::warn!(error = %e, "ward gauges: the ward query failed");
                Snapshot::default()
            }
            Err(_) => {
                self.failures.inc();
                tracing::warn!(timeout = ?QUERY_TIMEOUT, "ward gauges: the ward query timed out");
                Snapshot::default()
            }
        };
        // A failed query empties the gauges: old values must not pass for live ones.
        self.shared.replace(snapshot);
        *taken = Some(Instant::now());
    }
}

/// Middleware for the operational routes: `/metrics` first refreshes the ward.
pub async fn refresh_before_scrape(State(gauges): State<Arc<WardGauges>>, request: Request, next: Next) -> Response {
    if request.uri().path() == "/metrics" {
        gauges.refresh().await;
    }
    next.run(request).await
}

fn snapshot(patients: Vec<PatientSummary>, now: DateTime<Utc>, stale_after: TimeDelta, max: usize) -> Snapshot {
    let count = patients.len() as i64;
    let mut beds: Vec<Bed> = patients.into_iter().map(|p| bed(p, now, stale_after)).collect();
    if beds.len() > max {
        // The worst first: highest NEWS2, then the longest silent; patients
        // who never had a reading (nothing to chart but `stale`) last.
        beds.sort_by(|a, b| match (&a.latest, &b.latest) {
            (Some(a), Some(b)) => b.news2.cmp(&a.news2).then(b.age_seconds.total_cmp(&a.age_seconds)),
            (Some(_), None) => std::cmp::Ordering::Less,
            (None, Some(_)) => std::cmp::Ordering::Greater,
            (None, None) => std::cmp::Ordering::Equal,
        });
        beds.truncate(max);
    }
    Snapshot { patients: count, beds }
}

fn bed(p: PatientSummary, now: DateTime<Utc>, stale_after: TimeDelta) -> Bed {
    let stale = p.latest.as_ref().is_none_or(|r| now - r.measured_at > stale_after);
    let latest = p.latest.map(|r| Latest {
        pulse: r.pulse.into(),
        resp_rate: r.resp_rate.into(),
        bp_systolic: r.bp_systolic.into(),
        bp_diastolic: r.bp_diastolic.into(),
        spo2: r.spo2.into(),
        temperature: r.temperature,
        news2: r.news2.into(),
        worst_parameter: worst_parameter(&r).into(),
        age_seconds: (now - r.measured_at).as_seconds_f64(),
    });
    Bed { patient: p.uuid.to_string(), bed: p.bed.unwrap_or_default(), stale, latest }
}

/// The highest score of any single NEWS2 parameter (0–3): a 3 alone calls
/// for an urgent review even when the total is low.
pub fn worst_parameter(r: &StoredReading) -> u8 {
    // Stored values passed the domain's range checks: never negative.
    let unsigned = |v: i16| u16::try_from(v).unwrap_or(0);
    let acvpu = match r.acvpu.as_deref() {
        Some("C") => Acvpu::C,
        Some("V") => Acvpu::V,
        Some("P") => Acvpu::P,
        Some("U") => Acvpu::U,
        _ => Acvpu::A,
    };
    [
        news2::resp_rate_score(unsigned(r.resp_rate)),
        news2::spo2_scale1_score(u8::try_from(r.spo2).unwrap_or(0)),
        news2::oxygen_score(r.on_oxygen.unwrap_or(false)),
        news2::systolic_score(unsigned(r.bp_systolic)),
        news2::pulse_score(unsigned(r.pulse)),
        news2::consciousness_score(acvpu),
        news2::temperature_score(r.temperature),
    ]
    .into_iter()
    .max()
    .unwrap_or(0)
}

/// Encodes the current snapshot at each scrape.
#[derive(Debug)]
struct WardCollector(Arc<Shared>);

/// A per-patient gauge: name, help, and its value for a patient with a reading.
type PerReading = (&'static str, &'static str, fn(&Latest) -> f64);

const PER_READING: [PerReading; 9] = [
    ("icu_ward_pulse_beats_per_minute", "Latest pulse per patient", |l| l.pulse as f64),
    ("icu_ward_resp_rate_breaths_per_minute", "Latest respiratory rate per patient", |l| l.resp_rate as f64),
    ("icu_ward_bp_systolic_mmhg", "Latest systolic blood pressure per patient", |l| l.bp_systolic as f64),
    ("icu_ward_bp_diastolic_mmhg", "Latest diastolic blood pressure per patient", |l| l.bp_diastolic as f64),
    ("icu_ward_spo2_percent", "Latest peripheral oxygen saturation per patient", |l| l.spo2 as f64),
    ("icu_ward_temperature_celsius", "Latest body temperature per patient", |l| l.temperature),
    ("icu_ward_news2_score", "NEWS2 total of the latest reading per patient", |l| l.news2 as f64),
    (
        "icu_ward_news2_max_parameter_score",
        "Highest single-parameter NEWS2 score (0-3) of the latest reading per patient",
        |l| l.worst_parameter as f64,
    ),
    ("icu_ward_reading_age_seconds", "Age of the latest stored reading per patient", |l| l.age_seconds),
];

impl Collector for WardCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let snapshot = self.0.current();
        let total = ConstGauge::new(snapshot.patients);
        total.encode(encoder.encode_descriptor(
            "icu_ward_patients",
            "Patients on the ward (all of them, also beyond WARD_GAUGES_MAX_PATIENTS)",
            None,
            total.metric_type(),
        )?)?;
        for (name, help, value) in PER_READING {
            let mut family = encoder.encode_descriptor(name, help, None, MetricType::Gauge)?;
            for bed in &snapshot.beds {
                if let Some(latest) = &bed.latest {
                    let labels = [("patient", bed.patient.as_str()), ("bed", bed.bed.as_str())];
                    ConstGauge::new(value(latest)).encode(family.encode_family(&labels)?)?;
                }
            }
        }
        let mut stale = encoder.encode_descriptor(
            "icu_ward_patient_stale",
            "1 when a patient has no reading for three METRICS_INTERVALs (or none at all), as the API's `stale`",
            None,
            MetricType::Gauge,
        )?;
        for bed in &snapshot.beds {
            let labels = [("patient", bed.patient.as_str()), ("bed", bed.bed.as_str())];
            ConstGauge::new(i64::from(bed.stale)).encode(stale.encode_family(&labels)?)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use uuid::Uuid;

    fn reading(pulse: i16, news2: i16, at: DateTime<Utc>) -> StoredReading {
        StoredReading {
            measured_at: at,
            pulse,
            resp_rate: 16,
            bp_systolic: 120,
            bp_diastolic: 80,
            spo2: 97,
            temperature: 36.9,
            on_oxygen: None,
            acvpu: None,
            news2,
            news2_band: "low".into(),
            trace_id: None,
            span_id: None,
        }
    }

    fn patient(bed: &str, latest: Option<StoredReading>) -> PatientSummary {
        PatientSummary {
            uuid: Uuid::new_v4(),
            name: "x".into(),
            bed: Some(bed.into()),
            admitted_at: Utc::now(),
            latest,
        }
    }

    #[test]
    fn the_worst_single_parameter_is_found_whichever_it_is() {
        let now = Utc::now();
        assert_eq!(worst_parameter(&reading(72, 0, now)), 0);
        assert_eq!(worst_parameter(&reading(135, 3, now)), 3);
        assert_eq!(worst_parameter(&StoredReading { spo2: 93, ..reading(72, 2, now) }), 2);
        assert_eq!(worst_parameter(&StoredReading { acvpu: Some("V".into()), ..reading(72, 3, now) }), 3);
        assert_eq!(worst_parameter(&StoredReading { temperature: 34.9, ..reading(72, 3, now) }), 3);
        assert_eq!(worst_parameter(&StoredReading { on_oxygen: Some(true), ..reading(72, 2, now) }), 2);
    }

    #[test]
    fn beyond_the_bound_the_worst_patients_keep_their_series() {
        let now = Utc::now();
        let stale_after = TimeDelta::seconds(15);
        let patients = vec![
            patient("1", Some(reading(72, 1, now))),
            patient("2", Some(reading(72, 8, now))),
            patient("3", None),
            patient("4", Some(reading(72, 1, now - TimeDelta::minutes(5)))),
            patient("5", Some(reading(72, 5, now))),
        ];
        let snap = snapshot(patients, now, stale_after, 3);
        assert_eq!(snap.patients, 5);
        let beds: Vec<&str> = snap.beds.iter().map(|b| b.bed.as_str()).collect();
        assert_eq!(beds, ["2", "5", "4"]);
        assert!(snap.beds[2].stale && !snap.beds[0].stale);

        let all = snapshot(vec![patient("3", None), patient("1", Some(reading(72, 1, now)))], now, stale_after, 3);
        assert_eq!(all.beds.len(), 2, "within the bound nobody is left out");
        assert!(all.beds[0].stale && all.beds[0].latest.is_none());
    }
}
