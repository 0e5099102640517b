//! A validated reading and admission, and the limits beyond which a value is
//! not an abnormal patient but a broken sensor or a broken message.

use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::blood_pressure::{BloodPressure, BloodPressureError};
use crate::news2::Acvpu;

/// Names longer than this are a producer bug, not a patient.
pub const MAX_NAME_CHARS: usize = 200;

/// The possible range of each vital sign. Values outside are physiologically
/// impossible and quarantined; values inside but abnormal are what NEWS2 is for.
pub mod limits {
    pub const PULSE: (u16, u16) = (0, 300);
    pub const RESP_RATE: (u16, u16) = (0, 100);
    pub const SPO2: (u8, u8) = (0, 100);
    pub const TEMPERATURE: (f64, f64) = (20.0, 45.0);
    pub const SYSTOLIC: (u16, u16) = (0, 300);
    pub const DIASTOLIC: (u16, u16) = (0, 300);
}

/// One set of vital signs of one patient at one moment.
#[derive(Debug, Clone, PartialEq)]
pub struct Reading {
    pub patient: Uuid,
    /// Readings in the original format carry the name, which lets a reading
    /// register its patient without waiting for the admission event.
    pub name: Option<String>,
    pub measured_at: DateTime<Utc>,
    /// Beats per minute.
    pub pulse: u16,
    /// Breaths per minute.
    pub resp_rate: u16,
    pub bp: BloodPressure,
    /// Peripheral oxygen saturation, percent.
    pub spo2: u8,
    /// Degrees Celsius.
    pub temperature: f64,
    pub on_oxygen: Option<bool>,
    pub acvpu: Option<Acvpu>,
}

/// A patient arriving in a bed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Admission {
    pub patient: Uuid,
    pub name: String,
    pub bed: Option<String>,
    pub admitted_at: DateTime<Utc>,
}

/// Why a reading cannot be a real measurement. Each variant names its field.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum InvalidReading {
    #[error("{field} is {value} {unit}, outside the possible range {min}–{max} {unit}")]
    OutOfRange { field: &'static str, value: String, min: String, max: String, unit: &'static str },
    #[error("bp {bp}: diastolic must be below systolic")]
    DiastolicNotBelowSystolic { bp: String },
    #[error(transparent)]
    BloodPressure(#[from] BloodPressureError),
    #[error("name must not be empty")]
    EmptyName,
    #[error("name is {0} characters long, above the limit of {MAX_NAME_CHARS}")]
    NameTooLong(usize),
    #[error("name holds a control character ({0:?}); names are printable text")]
    NameHasControlCharacter(char),
    #[error("timestamp {0} is outside {EARLIEST_READING}–{LATEST_READING}: no monitor's clock says that")]
    TimestampOutOfRange(DateTime<Utc>),
    #[error(
        "timestamp {measured_at} is after the message was received ({received_at}) by more than the \
         {MAX_CLOCK_SKEW_SECONDS} s a monitor's clock may be ahead"
    )]
    MeasuredAfterReceipt { measured_at: DateTime<Utc>, received_at: DateTime<Utc> },
}

/// Readings are told apart by their time: a time no monitor could report
/// would be stored as the patient's latest reading for good (a reading dated
/// 2099 hides a monitor that went silent), or be refused by the database.
pub const EARLIEST_READING: &str = "1970-01-01T00:00:00Z";
pub const LATEST_READING: &str = "2199-12-31T23:59:59Z";
/// The same bounds in Unix seconds, compared on every reading without parsing.
const EARLIEST_SECONDS: i64 = 0;
const LATEST_SECONDS: i64 = 7_258_118_399;
/// How far a monitor's clock may run ahead of the receiver's.
pub const MAX_CLOCK_SKEW_SECONDS: i64 = 300;

/// Checks that a reading's time is one a monitor could report.
pub fn check_timestamp(measured_at: DateTime<Utc>) -> Result<(), InvalidReading> {
    if !(EARLIEST_SECONDS..=LATEST_SECONDS).contains(&measured_at.timestamp()) {
        return Err(InvalidReading::TimestampOutOfRange(measured_at));
    }
    Ok(())
}

/// Checks that a reading was not measured after it was received (beyond the
/// clock skew allowed): the receiver supplies when it received it.
pub fn check_received(measured_at: DateTime<Utc>, received_at: DateTime<Utc>) -> Result<(), InvalidReading> {
    if measured_at - received_at > chrono::TimeDelta::seconds(MAX_CLOCK_SKEW_SECONDS) {
        return Err(InvalidReading::MeasuredAfterReceipt { measured_at, received_at });
    }
    Ok(())
}

impl InvalidReading {
    /// The wire field at fault.
    pub fn field(&self) -> &'static str {
        match self {
            InvalidReading::OutOfRange { field, .. } => field,
            InvalidReading::DiastolicNotBelowSystolic { .. } | InvalidReading::BloodPressure(_) => "bp",
            InvalidReading::EmptyName | InvalidReading::NameTooLong(_) | InvalidReading::NameHasControlCharacter(_) => {
                "name"
            }
            InvalidReading::TimestampOutOfRange(_) | InvalidReading::MeasuredAfterReceipt { .. } => "timestamp",
        }
    }
}

fn in_range<T>(field: &'static str, value: i64, (min, max): (T, T), unit: &'static str) -> Result<T, InvalidReading>
where
    T: Copy + Into<i64> + TryFrom<i64> + ToString,
{
    if value < min.into() || value > max.into() {
        return Err(InvalidReading::OutOfRange {
            field,
            value: value.to_string(),
            min: min.to_string(),
            max: max.to_string(),
            unit,
        });
    }
    T::try_from(value).map_err(|_| InvalidReading::OutOfRange {
        field,
        value: value.to_string(),
        min: min.to_string(),
        max: max.to_string(),
        unit,
    })
}

/// Checks a name (`None` is fine: readings may omit it).
pub fn check_name(name: Option<&str>) -> Result<(), InvalidReading> {
    match name {
        Some(n) if n.trim().is_empty() => Err(InvalidReading::EmptyName),
        Some(n) if n.chars().count() > MAX_NAME_CHARS => Err(InvalidReading::NameTooLong(n.chars().count())),
        Some(n) => match n.chars().find(|c| c.is_control()) {
            Some(c) => Err(InvalidReading::NameHasControlCharacter(c)),
            None => Ok(()),
        },
        None => Ok(()),
    }
}

/// The raw numbers of a reading as they arrive, before any check.
#[derive(Debug, Clone, PartialEq)]
pub struct RawVitals<'a> {
    pub pulse: i64,
    pub resp_rate: i64,
    pub bp: &'a str,
    pub spo2: i64,
    pub temperature: f64,
}

impl Reading {
    /// Builds a reading from raw values, or says which value is impossible.
    pub fn validate(
        patient: Uuid,
        name: Option<String>,
        measured_at: DateTime<Utc>,
        raw: RawVitals<'_>,
        on_oxygen: Option<bool>,
        acvpu: Option<Acvpu>,
    ) -> Result<Reading, InvalidReading> {
        check_name(name.as_deref())?;
        check_timestamp(measured_at)?;
        let pulse = in_range("pulse", raw.pulse, limits::PULSE, "/min")?;
        let resp_rate = in_range("resp_rate", raw.resp_rate, limits::RESP_RATE, "/min")?;
        let spo2 = in_range("spo2", raw.spo2, limits::SPO2, "%")?;
        let (tmin, tmax) = limits::TEMPERATURE;
        if !(tmin..=tmax).contains(&raw.temperature) {
            return Err(InvalidReading::OutOfRange {
                field: "temperature",
                value: raw.temperature.to_string(),
                min: tmin.to_string(),
                max: tmax.to_string(),
                unit: "°C",
            });
        }
        let bp: BloodPressure = raw.bp.parse()?;
        in_range("bp systolic", bp.systolic.into(), limits::SYSTOLIC, "mmHg")?;
        in_range("bp diastolic", bp.diastolic.into(), limits::DIASTOLIC, "mmHg")?;
        if bp.diastolic >= bp.systolic {
            return Err(InvalidReading::DiastolicNotBelowSystolic { bp: bp.to_string() });
        }
        Ok(Reading {
            patient,
            name,
            measured_at,
            pulse,
            resp_rate,
            bp,
            spo2,
            temperature: raw.temperature,
            on_oxygen,
            acvpu,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn raw() -> RawVitals<'static> {
        RawVitals { pulse: 72, resp_rate: 16, bp: "120/80", spo2: 98, temperature: 36.8 }
    }

    fn check(raw: RawVitals<'_>) -> Result<Reading, InvalidReading> {
        let at = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
        Reading::validate(Uuid::nil(), Some("Ada".into()), at, raw, None, None)
    }

    #[test]
    fn a_normal_reading_is_valid() {
        let r = check(raw()).unwrap();
        assert_eq!((r.pulse, r.resp_rate, r.spo2, r.bp), (72, 16, 98, BloodPressure::new(120, 80)));
    }

    #[test]
    fn limits_are_inclusive() {
        assert!(check(RawVitals { pulse: 0, ..raw() }).is_ok());
        assert!(check(RawVitals { pulse: 300, ..raw() }).is_ok());
        assert!(check(RawVitals { resp_rate: 100, ..raw() }).is_ok());
        assert!(check(RawVitals { spo2: 100, ..raw() }).is_ok());
        assert!(check(RawVitals { temperature: 20.0, ..raw() }).is_ok());
        assert!(check(RawVitals { temperature: 45.0, ..raw() }).is_ok());
        assert!(check(RawVitals { bp: "300/299", ..raw() }).is_ok());
    }

    #[test]
    fn each_impossible_value_names_its_field() {
        let cases: [(RawVitals<'_>, &str); 10] = [
            (RawVitals { pulse: -1, ..raw() }, "pulse"),
            (RawVitals { pulse: 301, ..raw() }, "pulse"),
            (RawVitals { resp_rate: 101, ..raw() }, "resp_rate"),
            (RawVitals { resp_rate: -3, ..raw() }, "resp_rate"),
            (RawVitals { spo2: 101, ..raw() }, "spo2"),
            (RawVitals { temperature: 19.9, ..raw() }, "temperature"),
            (RawVitals { temperature: 45.1, ..raw() }, "temperature"),
            (RawVitals { bp: "301/80", ..raw() }, "bp systolic"),
            (RawVitals { bp: "80/120", ..raw() }, "bp"),
            (RawVitals { bp: "120", ..raw() }, "bp"),
        ];
        for (raw, field) in cases {
            let err = check(raw.clone()).unwrap_err();
            assert_eq!(err.field(), field, "{raw:?}: {err}");
            assert!(err.to_string().contains(field.split(' ').next().unwrap()), "{err}");
        }
    }

    #[test]
    fn out_of_range_message_says_value_and_range() {
        let err = check(RawVitals { pulse: 420, ..raw() }).unwrap_err();
        assert_eq!(err.to_string(), "pulse is 420 /min, outside the possible range 0–300 /min");
    }

    #[test]
    fn diastolic_equal_to_systolic_is_impossible() {
        let err = check(RawVitals { bp: "80/80", ..raw() }).unwrap_err();
        assert_eq!(err, InvalidReading::DiastolicNotBelowSystolic { bp: "80/80".into() });
    }

    #[test]
    fn names_must_be_present_and_bounded() {
        let at = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
        let with = |name: Option<String>| Reading::validate(Uuid::nil(), name, at, raw(), None, None);
        assert!(with(None).is_ok());
        assert_eq!(with(Some("  ".into())).unwrap_err(), InvalidReading::EmptyName);
        assert_eq!(with(Some("x".repeat(201))).unwrap_err(), InvalidReading::NameTooLong(201));
        // A NUL would also be refused by PostgreSQL's text type.
        assert_eq!(with(Some("Ada\0".into())).unwrap_err(), InvalidReading::NameHasControlCharacter('\0'));
        assert_eq!(with(Some("Ada\nLovelace".into())).unwrap_err().field(), "name");
        assert!(with(Some("Zoë O'Brien-Łukasz".into())).is_ok());
    }

    #[test]
    fn the_time_bounds_in_seconds_are_the_ones_in_the_messages() {
        let seconds = |t: &str| DateTime::parse_from_rfc3339(t).unwrap().timestamp();
        assert_eq!((seconds(EARLIEST_READING), seconds(LATEST_READING)), (EARLIEST_SECONDS, LATEST_SECONDS));
    }

    #[test]
    fn timestamps_must_be_ones_a_monitor_could_report() {
        let with = |at: DateTime<Utc>| Reading::validate(Uuid::nil(), None, at, raw(), None, None);
        let epoch = Utc.with_ymd_and_hms(1970, 1, 1, 0, 0, 0).unwrap();
        let last = Utc.with_ymd_and_hms(2199, 12, 31, 23, 59, 59).unwrap();
        assert!(with(epoch).is_ok());
        assert!(with(last).is_ok());
        for bad in [epoch - chrono::TimeDelta::seconds(1), last + chrono::TimeDelta::seconds(1)] {
            assert_eq!(with(bad).unwrap_err(), InvalidReading::TimestampOutOfRange(bad));
        }
        assert_eq!(with(Utc.with_ymd_and_hms(9999, 1, 1, 0, 0, 0).unwrap()).unwrap_err().field(), "timestamp");
    }

    #[test]
    fn a_reading_measured_after_its_receipt_is_impossible_beyond_the_skew() {
        let received = Utc.with_ymd_and_hms(2026, 1, 1, 12, 0, 0).unwrap();
        let skew = chrono::TimeDelta::seconds(MAX_CLOCK_SKEW_SECONDS);
        assert!(check_received(received - chrono::TimeDelta::hours(3), received).is_ok(), "late is fine");
        assert!(check_received(received + skew, received).is_ok(), "a clock ahead by the skew is fine");
        let ahead = received + skew + chrono::TimeDelta::seconds(1);
        assert_eq!(
            check_received(ahead, received).unwrap_err(),
            InvalidReading::MeasuredAfterReceipt { measured_at: ahead, received_at: received }
        );
    }
}
