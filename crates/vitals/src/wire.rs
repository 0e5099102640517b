//! Version 1 of the messages on `icu.patients` and `icu.vitals`.
//!
//! The reading keeps the original assignment's shape (`uuid`, `name`,
//! `timestamp`, `pulse`, `resp_rate`, `bp: "120/80"`, `spo2`, `temperature`),
//! so a message without `"v"` is version 1 and old producers keep working.
//! The committed contract is `api/asyncapi.yaml` with `api/schemas/*.json`,
//! generated from these types; a test fails when the two drift.

use chrono::{DateTime, NaiveDateTime, Utc};
use serde::{Deserialize, Deserializer, Serialize};
use uuid::Uuid;

use crate::news2::Acvpu;
use crate::reading::{
    Admission, EARLIEST_READING, InvalidReading, LATEST_READING, RawVitals, Reading, check_name, check_timestamp,
};

/// Default topic of readings (the original `KAFKA_TOPIC`).
pub const VITALS_TOPIC: &str = "icu.vitals";
/// Default topic of admissions (log-compacted, keyed by patient).
pub const PATIENTS_TOPIC: &str = "icu.patients";

/// The message version this code writes and reads.
pub const WIRE_VERSION: u32 = 1;

/// A message larger than this is not a reading: it is quarantined unread.
pub const MAX_MESSAGE_BYTES: usize = 64 * 1024;

fn v1() -> u32 {
    WIRE_VERSION
}

/// A vital-signs reading on `icu.vitals`, keyed by the patient UUID.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[schemars(title = "Reading v1", extend("$id" = "https://icu-monitor.example/schemas/reading.v1.json"))]
pub struct ReadingMessage {
    /// Message version. Absent means 1, the original assignment's format.
    #[serde(default = "v1")]
    #[schemars(extend("const" = 1))]
    pub v: u32,
    /// The patient, also the Kafka message key.
    pub uuid: Uuid,
    /// The patient's name. Lets the reading register its patient without waiting for the admission.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 200))]
    pub name: Option<String>,
    /// When the monitor measured, RFC 3339.
    #[serde(deserialize_with = "lenient_timestamp")]
    pub timestamp: DateTime<Utc>,
    /// Heart rate, beats per minute.
    #[schemars(range(min = 0, max = 300))]
    pub pulse: i64,
    /// Respiratory rate, breaths per minute.
    #[schemars(range(min = 0, max = 100))]
    pub resp_rate: i64,
    /// Blood pressure "systolic/diastolic" in mmHg, diastolic below systolic.
    #[schemars(regex(pattern = r"^\s*\d{1,3}\s*/\s*\d{1,3}\s*$"), example = &"120/80")]
    pub bp: String,
    /// Peripheral oxygen saturation, percent.
    #[schemars(range(min = 0, max = 100))]
    pub spo2: i64,
    /// Body temperature, degrees Celsius.
    #[schemars(range(min = 20.0, max = 45.0))]
    pub temperature: f64,
    /// Supplemental oxygen (NEWS2 scores 2). Absent means room air.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on_oxygen: Option<bool>,
    /// Level of consciousness, ACVPU (NEWS2 scores 3 unless A). Absent means alert.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub acvpu: Option<Acvpu>,
}

/// A patient admitted to a bed, on `icu.patients` (log-compacted), keyed by the patient UUID.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[schemars(title = "Admission v1", extend("$id" = "https://icu-monitor.example/schemas/admission.v1.json"))]
pub struct AdmissionMessage {
    /// Message version.
    #[serde(default = "v1")]
    #[schemars(extend("const" = 1))]
    pub v: u32,
    /// The patient, also the Kafka message key.
    pub uuid: Uuid,
    /// The patient's name.
    #[schemars(length(min = 1, max = 200))]
    pub name: String,
    /// The bed, when the ward assigns one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 64))]
    pub bed: Option<String>,
    /// When the patient was admitted, RFC 3339.
    #[serde(deserialize_with = "lenient_timestamp")]
    pub admitted_at: DateTime<Utc>,
}

/// Why a message cannot be used, ever. `kind()` is the quarantine's label.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum DecodeError {
    #[error("payload is {size} bytes, above the limit of {limit}")]
    Oversized { size: usize, limit: usize },
    #[error("not JSON: {0}")]
    MalformedJson(String),
    #[error("missing field: {0}")]
    MissingField(String),
    #[error("{field}: wrong type: {detail}")]
    WrongType { field: String, detail: String },
    #[error("{field}: invalid value: {detail}")]
    InvalidField { field: String, detail: String },
    #[error("unsupported message version {0}; this service reads version {WIRE_VERSION}")]
    UnsupportedVersion(String),
    #[error(transparent)]
    Invalid(#[from] InvalidReading),
}

impl DecodeError {
    /// A short, stable label for metrics and the quarantine table.
    pub fn kind(&self) -> &'static str {
        match self {
            DecodeError::Oversized { .. } => "oversized",
            DecodeError::MalformedJson(_) => "malformed_json",
            DecodeError::MissingField(_) => "missing_field",
            DecodeError::WrongType { .. } => "wrong_type",
            DecodeError::InvalidField { .. } => "invalid_field",
            DecodeError::UnsupportedVersion(_) => "unsupported_version",
            DecodeError::Invalid(InvalidReading::OutOfRange { .. }) => "out_of_range",
            DecodeError::Invalid(InvalidReading::TimestampOutOfRange(_)) => "out_of_range",
            DecodeError::Invalid(
                InvalidReading::DiastolicNotBelowSystolic { .. } | InvalidReading::MeasuredAfterReceipt { .. },
            ) => "impossible",
            DecodeError::Invalid(_) => "invalid_field",
        }
    }

    /// Every kind `kind()` can return: the data-service's quarantine counters
    /// start at zero for each, so a kind's first message shows in `rate()`.
    pub const KINDS: [&'static str; 8] = [
        "oversized",
        "malformed_json",
        "missing_field",
        "wrong_type",
        "invalid_field",
        "unsupported_version",
        "out_of_range",
        "impossible",
    ];
}

/// Accepts RFC 3339, and also the offset-less ISO 8601 that Python's
/// `datetime.isoformat()` wrote in the original assignment, read as UTC.
fn lenient_timestamp<'de, D: Deserializer<'de>>(deserializer: D) -> Result<DateTime<Utc>, D::Error> {
    let text = std::borrow::Cow::<str>::deserialize(deserializer)?;
    if let Ok(at) = DateTime::parse_from_rfc3339(&text) {
        return Ok(at.with_timezone(&Utc));
    }
    NaiveDateTime::parse_from_str(&text, "%Y-%m-%dT%H:%M:%S%.f")
        .map(|naive| naive.and_utc())
        .map_err(|_| serde::de::Error::custom(format!("{text:?} is not an RFC 3339 timestamp")))
}

/// Reads only `"v"`, so a future version is reported as such and not as a
/// pile of missing fields.
fn check_version(payload: &[u8]) -> Result<(), DecodeError> {
    #[derive(Deserialize)]
    struct Envelope {
        #[serde(default)]
        v: Option<serde_json::Value>,
    }
    if payload.len() > MAX_MESSAGE_BYTES {
        return Err(DecodeError::Oversized { size: payload.len(), limit: MAX_MESSAGE_BYTES });
    }
    // serde reads a struct from an array too; a message must be an object.
    if payload.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{') {
        return Err(DecodeError::MalformedJson("a message must be a JSON object".into()));
    }
    let envelope: Envelope = match serde_json::from_slice(payload) {
        Ok(envelope) => envelope,
        Err(e) => return Err(DecodeError::MalformedJson(e.to_string())),
    };
    match envelope.v {
        None => Ok(()),
        Some(serde_json::Value::Number(n)) if n.as_u64() == Some(u64::from(WIRE_VERSION)) => Ok(()),
        Some(other) => Err(DecodeError::UnsupportedVersion(other.to_string())),
    }
}

/// Parses a message of type `T`, naming the field at fault on error.
fn parse<T: serde::de::DeserializeOwned>(payload: &[u8]) -> Result<T, DecodeError> {
    check_version(payload)?;
    match serde_json::from_slice(payload) {
        Ok(message) => Ok(message),
        // The fast path carries no field path; parse again only to explain.
        Err(_) => {
            let de = &mut serde_json::Deserializer::from_slice(payload);
            let err = match serde_path_to_error::deserialize::<_, T>(de) {
                Ok(message) => return Ok(message),
                Err(err) => err,
            };
            let field = err.path().to_string();
            let inner = err.into_inner();
            let detail = inner.to_string();
            let detail = detail.split(" at line ").next().unwrap_or(&detail).to_owned();
            Err(if !inner.is_data() {
                DecodeError::MalformedJson(detail)
            } else if let Some(rest) = detail.strip_prefix("missing field ") {
                DecodeError::MissingField(rest.trim_matches('`').to_owned())
            } else if detail.starts_with("invalid type") {
                DecodeError::WrongType { field, detail }
            } else {
                DecodeError::InvalidField { field, detail }
            })
        }
    }
}

impl ReadingMessage {
    pub fn decode(payload: &[u8]) -> Result<Reading, DecodeError> {
        parse::<ReadingMessage>(payload)?.into_reading()
    }

    pub fn into_reading(self) -> Result<Reading, DecodeError> {
        let raw = RawVitals {
            pulse: self.pulse,
            resp_rate: self.resp_rate,
            bp: &self.bp,
            spo2: self.spo2,
            temperature: self.temperature,
        };
        Ok(Reading::validate(self.uuid, self.name.clone(), self.timestamp, raw, self.on_oxygen, self.acvpu)?)
    }

    pub fn encode(&self) -> Vec<u8> {
        // Serializing a struct of plain fields into a Vec cannot fail.
        serde_json::to_vec(self).unwrap_or_default()
    }
}

impl From<&Reading> for ReadingMessage {
    fn from(r: &Reading) -> Self {
        ReadingMessage {
            v: WIRE_VERSION,
            uuid: r.patient,
            name: r.name.clone(),
            timestamp: r.measured_at,
            pulse: r.pulse.into(),
            resp_rate: r.resp_rate.into(),
            bp: r.bp.to_string(),
            spo2: r.spo2.into(),
            temperature: r.temperature,
            on_oxygen: r.on_oxygen,
            acvpu: r.acvpu,
        }
    }
}

impl AdmissionMessage {
    pub fn decode(payload: &[u8]) -> Result<Admission, DecodeError> {
        let m = parse::<AdmissionMessage>(payload)?;
        check_name(Some(&m.name))?;
        // The same bounds as a reading's time: an admission dated 4052 would
        // be stored as such (or, before 4713 BC, refused by PostgreSQL).
        if check_timestamp(m.admitted_at).is_err() {
            return Err(DecodeError::InvalidField {
                field: "admitted_at".into(),
                detail: format!("{} is outside {EARLIEST_READING}–{LATEST_READING}", m.admitted_at),
            });
        }
        if m.bed
            .as_deref()
            .is_some_and(|b| b.trim().is_empty() || b.chars().count() > 64 || b.contains(char::is_control))
        {
            return Err(DecodeError::InvalidField {
                field: "bed".into(),
                detail: "must be 1–64 printable characters when present".into(),
            });
        }
        Ok(Admission { patient: m.uuid, name: m.name, bed: m.bed, admitted_at: m.admitted_at })
    }

    pub fn encode(&self) -> Vec<u8> {
        serde_json::to_vec(self).unwrap_or_default()
    }
}

impl From<&Admission> for AdmissionMessage {
    fn from(a: &Admission) -> Self {
        AdmissionMessage {
            v: WIRE_VERSION,
            uuid: a.patient,
            name: a.name.clone(),
            bed: a.bed.clone(),
            admitted_at: a.admitted_at,
        }
    }
}

/// The JSON Schemas of the v1 messages, as committed under `api/schemas/`.
pub fn schemas() -> [(&'static str, serde_json::Value); 2] {
    let to_value = |s: schemars::Schema| serde_json::to_value(s).unwrap_or_default();
    [
        ("reading.v1.json", to_value(schemars::schema_for!(ReadingMessage))),
        ("admission.v1.json", to_value(schemars::schema_for!(AdmissionMessage))),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::blood_pressure::BloodPressure;

    const ORIGINAL: &str = r#"{"uuid":"0b7e6c1e-3c1a-4d5e-9f00-2a4b6c8d0e1f","name":"Ada Lovelace",
        "timestamp":"2026-11-24T08:00:00Z","pulse":72,"resp_rate":16,"bp":"120/80","spo2":98,"temperature":36.8}"#;

    fn with(field: &str, value: &str) -> String {
        let mut v: serde_json::Value = serde_json::from_str(ORIGINAL).unwrap();
        v[field] = serde_json::from_str(value).unwrap();
        v.to_string()
    }

    fn without(field: &str) -> String {
        let mut v: serde_json::Value = serde_json::from_str(ORIGINAL).unwrap();
        v.as_object_mut().unwrap().remove(field);
        v.to_string()
    }

    #[test]
    fn the_original_format_without_version_is_v1() {
        let r = ReadingMessage::decode(ORIGINAL.as_bytes()).unwrap();
        assert_eq!(r.name.as_deref(), Some("Ada Lovelace"));
        assert_eq!(r.bp, BloodPressure::new(120, 80));
        assert_eq!(r.measured_at.to_rfc3339(), "2026-11-24T08:00:00+00:00");
    }

    #[test]
    fn encode_then_decode_is_identity() {
        let r = ReadingMessage::decode(ORIGINAL.as_bytes()).unwrap();
        let bytes = ReadingMessage::from(&r).encode();
        let text = String::from_utf8(bytes.clone()).unwrap();
        assert!(text.contains(r#""v":1"#) && text.contains(r#""bp":"120/80""#), "{text}");
        assert_eq!(ReadingMessage::decode(&bytes).unwrap(), r);
    }

    #[test]
    fn offsets_and_python_isoformat_timestamps_are_read_as_utc() {
        let r = ReadingMessage::decode(with("timestamp", r#""2026-11-24T09:00:00+01:00""#).as_bytes()).unwrap();
        assert_eq!(r.measured_at.to_rfc3339(), "2026-11-24T08:00:00+00:00");
        let r = ReadingMessage::decode(with("timestamp", r#""2026-11-24T08:00:00.250000""#).as_bytes()).unwrap();
        assert_eq!(r.measured_at.timestamp_millis() % 1000, 250);
    }

    #[test]
    fn every_decode_error_has_its_kind_and_names_the_field() {
        let big = format!(r#"{{"pad":"{}"}}"#, "x".repeat(MAX_MESSAGE_BYTES));
        let cases: Vec<(String, &str, &str)> = vec![
            (big, "oversized", "limit"),
            ("{not json".into(), "malformed_json", "not JSON"),
            ("".into(), "malformed_json", "object"),
            ("[1,2]".into(), "malformed_json", "object"),
            (without("pulse"), "missing_field", "pulse"),
            (with("pulse", r#""fast""#), "wrong_type", "pulse"),
            (with("uuid", r#""not-a-uuid""#), "invalid_field", "uuid"),
            (with("timestamp", r#""yesterday""#), "invalid_field", "timestamp"),
            (with("v", "2"), "unsupported_version", "version 2"),
            (with("v", r#""1""#), "unsupported_version", "\"1\""),
            (with("pulse", "400"), "out_of_range", "pulse"),
            (with("temperature", "50.5"), "out_of_range", "temperature"),
            (with("bp", r#""80/120""#), "impossible", "diastolic"),
            (with("bp", r#""high""#), "invalid_field", "bp"),
            (with("name", r#""""#), "invalid_field", "name"),
        ];
        for (payload, kind, mentions) in cases {
            let err = ReadingMessage::decode(payload.as_bytes()).unwrap_err();
            assert_eq!(err.kind(), kind, "{err}");
            assert!(DecodeError::KINDS.contains(&kind));
            assert!(err.to_string().contains(mentions), "{err:?} should mention {mentions:?}");
        }
    }

    #[test]
    fn an_admission_dated_where_no_clock_is_refused_naming_admitted_at() {
        // Found by the fuzz target `message`: a year-4052 admission was accepted.
        for at in ["4052-11-24T06:00:00Z", "1969-12-31T23:59:59Z"] {
            let text =
                format!(r#"{{"uuid":"0b7e6c1e-3c1a-4d5e-9f00-2a4b6c8d0e1f","name":"Ada","admitted_at":"{at}"}}"#);
            let error = AdmissionMessage::decode(text.as_bytes()).unwrap_err();
            assert_eq!(error.kind(), "invalid_field", "{at}");
            assert!(error.to_string().starts_with("admitted_at: invalid value"), "{error}");
        }
    }

    #[test]
    fn admission_round_trip_and_errors() {
        let text = r#"{"v":1,"uuid":"0b7e6c1e-3c1a-4d5e-9f00-2a4b6c8d0e1f","name":"Ada","bed":"B-07","admitted_at":"2026-11-24T07:00:00Z"}"#;
        let a = AdmissionMessage::decode(text.as_bytes()).unwrap();
        assert_eq!(a.bed.as_deref(), Some("B-07"));
        assert_eq!(AdmissionMessage::decode(&AdmissionMessage::from(&a).encode()).unwrap(), a);
        let no_name = text.replace(r#""name":"Ada","#, "");
        assert_eq!(AdmissionMessage::decode(no_name.as_bytes()).unwrap_err().kind(), "missing_field");
        let empty_bed = text.replace("B-07", "");
        assert_eq!(AdmissionMessage::decode(empty_bed.as_bytes()).unwrap_err().kind(), "invalid_field");
    }
}
