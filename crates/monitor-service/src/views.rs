//! The API's JSON bodies, as `api/openapi.yaml` describes them.

use chrono::{DateTime, Utc};
use serde::Serialize;
use store::ward::{PatientSummary, StoredReading};
use uuid::Uuid;

#[derive(Debug, Serialize)]
pub struct News2View {
    pub score: i16,
    pub band: String,
    /// The parameters that scored 3 (a red score each), in chart order.
    pub scored_three: Vec<&'static str>,
}

impl News2View {
    /// The stored score and band, and which parameters scored 3 (scored
    /// again from the stored values by the domain's one definition).
    pub fn of(r: &StoredReading) -> Self {
        let value = |v: i16| u16::try_from(v).unwrap_or(0);
        let score = vitals::News2::of_values(vitals::news2::Values {
            pulse: value(r.pulse),
            resp_rate: value(r.resp_rate),
            systolic: value(r.bp_systolic),
            spo2: u8::try_from(r.spo2).unwrap_or(0),
            temperature: r.temperature,
            on_oxygen: r.on_oxygen.unwrap_or(false),
            acvpu: r.acvpu.as_deref().and_then(|a| a.parse().ok()).unwrap_or(vitals::Acvpu::A),
        });
        News2View { score: r.news2, band: r.news2_band.clone(), scored_three: score.scored_three() }
    }
}

#[derive(Debug, Serialize)]
pub struct ReadingView {
    pub timestamp: DateTime<Utc>,
    pub pulse: i16,
    pub resp_rate: i16,
    /// As in the original assignment: `"120/80"`.
    pub bp: String,
    pub bp_systolic: i16,
    pub bp_diastolic: i16,
    pub spo2: i16,
    pub temperature: f64,
    pub on_oxygen: Option<bool>,
    pub acvpu: Option<String>,
    pub news2: News2View,
    /// The reading's trace (its `send` span's trace id), to find it in a trace backend.
    pub trace_id: Option<String>,
}

impl From<StoredReading> for ReadingView {
    fn from(r: StoredReading) -> Self {
        let news2 = News2View::of(&r);
        ReadingView {
            timestamp: r.measured_at,
            pulse: r.pulse,
            resp_rate: r.resp_rate,
            bp: format!("{}/{}", r.bp_systolic, r.bp_diastolic),
            bp_systolic: r.bp_systolic,
            bp_diastolic: r.bp_diastolic,
            spo2: r.spo2,
            temperature: r.temperature,
            on_oxygen: r.on_oxygen,
            acvpu: r.acvpu,
            news2,
            trace_id: r.trace_id,
        }
    }
}

#[derive(Debug, Serialize)]
pub struct PatientView {
    pub uuid: Uuid,
    pub name: String,
    pub bed: Option<String>,
    pub admitted_at: DateTime<Utc>,
    pub latest: Option<ReadingView>,
    pub news2: Option<News2View>,
    pub last_seen: Option<DateTime<Utc>>,
    /// No reading for three intervals, or none ever: a silent monitor is an alarm.
    pub stale: bool,
}

impl PatientView {
    pub fn new(p: PatientSummary, now: DateTime<Utc>, stale_after: chrono::TimeDelta) -> Self {
        let last_seen = p.latest.as_ref().map(|r| r.measured_at);
        let stale = last_seen.is_none_or(|seen| now - seen > stale_after);
        let news2 = p.latest.as_ref().map(News2View::of);
        PatientView {
            uuid: p.uuid,
            name: p.name,
            bed: p.bed,
            admitted_at: p.admitted_at,
            latest: p.latest.map(ReadingView::from),
            news2,
            last_seen,
            stale,
        }
    }
}

#[derive(Debug, Serialize)]
pub struct PatientList {
    pub patients: Vec<PatientView>,
}

#[derive(Debug, Serialize)]
pub struct ReadingPage {
    pub patient: Uuid,
    pub readings: Vec<ReadingView>,
    pub next_cursor: Option<String>,
}

/// A reading as the original assignment's clients read it from
/// `/patient/{uuid}/metrics`: the seed wire format's fields, one object per
/// reading, `on_oxygen` and `acvpu` only when the monitor said.
#[derive(Debug, Serialize)]
pub struct OriginalReading {
    pub uuid: Uuid,
    pub name: String,
    pub timestamp: DateTime<Utc>,
    pub pulse: i16,
    pub resp_rate: i16,
    /// `"120/80"`.
    pub bp: String,
    pub spo2: i16,
    pub temperature: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub on_oxygen: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub acvpu: Option<String>,
    /// The reading's trace, as in the ward's own shape.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub trace_id: Option<String>,
}

impl OriginalReading {
    pub fn new(uuid: Uuid, name: &str, r: StoredReading) -> Self {
        OriginalReading {
            uuid,
            name: name.to_owned(),
            timestamp: r.measured_at,
            pulse: r.pulse,
            resp_rate: r.resp_rate,
            bp: format!("{}/{}", r.bp_systolic, r.bp_diastolic),
            spo2: r.spo2,
            temperature: r.temperature,
            on_oxygen: r.on_oxygen,
            acvpu: r.acvpu,
            trace_id: r.trace_id,
        }
    }
}

/// A reading on the live stream: its patient and the reading as the API shows it.
#[derive(Debug, Serialize)]
pub struct StreamReading {
    pub patient: Uuid,
    pub reading: ReadingView,
}

/// An admission on the live stream.
#[derive(Debug, Serialize)]
pub struct AdmissionView {
    pub uuid: Uuid,
    pub name: String,
    pub bed: Option<String>,
    pub admitted_at: DateTime<Utc>,
}

impl From<&store::ward::AdmittedPatient> for AdmissionView {
    fn from(p: &store::ward::AdmittedPatient) -> Self {
        AdmissionView { uuid: p.uuid, name: p.name.clone(), bed: p.bed.clone(), admitted_at: p.admitted_at }
    }
}
