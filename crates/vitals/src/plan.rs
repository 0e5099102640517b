//! The judgement of a batch of received messages, before anything is stored:
//! each message is decoded, validated and scored here, in pure code, and the
//! batch becomes a [`Plan`] that the store then carries out in one
//! transaction. Nothing here knows about databases; the store does not
//! decode, validate or score.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::news2::News2;
use crate::reading::{Admission, Reading, check_received};
use crate::trace_context::TraceContext;
use crate::wire::{AdmissionMessage, ReadingMessage};

/// What a topic carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Channel<'a> {
    Readings,
    Admissions,
    /// A topic that carries neither (misconfigured producer or subscription).
    Unknown(&'a str),
}

/// One received message, as the domain needs to see it.
#[derive(Debug, Clone, Copy)]
pub struct Received<'a> {
    pub channel: Channel<'a>,
    pub payload: &'a [u8],
    /// The message's headers (name, value), as received.
    pub headers: &'a [(String, Vec<u8>)],
    /// When the message was received (its Kafka timestamp): a reading
    /// measured after it, beyond the clock skew allowed, is impossible.
    pub received_at: DateTime<Utc>,
}

/// A valid reading, scored, with the trace context it arrived with.
#[derive(Debug, Clone, PartialEq)]
pub struct ScoredReading {
    pub reading: Reading,
    pub news2: News2,
    pub trace: Option<TraceContext>,
}

/// Why a message can never be stored: its quarantine kind and a reason
/// naming the field at fault.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejection {
    pub kind: &'static str,
    pub reason: String,
}

/// The quarantine kind of a message on a topic that carries neither readings nor admissions.
pub const UNKNOWN_TOPIC: &str = "unknown_topic";

/// What one message is, judged on its own.
#[derive(Debug, Clone, PartialEq)]
pub enum Verdict {
    Reading(ScoredReading),
    Admission(Admission),
    Rejected(Rejection),
}

/// Judges one message: decode, validate, score. Pure: the same message
/// always meets the same verdict, whoever judges it and whenever.
pub fn judge(message: &Received<'_>) -> Verdict {
    let reject = |e: crate::DecodeError| Verdict::Rejected(Rejection { kind: e.kind(), reason: e.to_string() });
    match message.channel {
        Channel::Readings => {
            let decoded = ReadingMessage::decode(message.payload).and_then(|r| {
                check_received(r.measured_at, message.received_at)?;
                Ok(r)
            });
            match decoded {
                Ok(reading) => Verdict::Reading(ScoredReading {
                    news2: News2::of(&reading),
                    trace: traceparent(message.headers).and_then(TraceContext::parse_traceparent),
                    reading,
                }),
                Err(e) => reject(e),
            }
        }
        Channel::Admissions => match AdmissionMessage::decode(message.payload) {
            Ok(admission) => Verdict::Admission(admission),
            Err(e) => reject(e),
        },
        Channel::Unknown(topic) => Verdict::Rejected(Rejection {
            kind: UNKNOWN_TOPIC,
            reason: format!("topic {topic:?} carries neither readings nor admissions"),
        }),
    }
}

/// The value of the `traceparent` header (names are case-insensitive).
fn traceparent(headers: &[(String, Vec<u8>)]) -> Option<&[u8]> {
    headers.iter().find(|(name, _)| name.eq_ignore_ascii_case("traceparent")).map(|(_, value)| value.as_slice())
}

/// A patient the batch makes known: from an admission (the authority on
/// name, bed and admission time) or registered by a reading in the original
/// format, which carries the name (then admitted at its first reading).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PatientRecord {
    pub patient: Uuid,
    pub name: String,
    pub bed: Option<String>,
    pub admitted_at: DateTime<Utc>,
    /// The admission message that says so (its index in the batch), or
    /// `None` for a registration, which never overwrites what is known.
    pub admission: Option<usize>,
}

/// A batch, judged: a verdict per message, and what storing it involves.
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    /// One per message, in batch order.
    pub verdicts: Vec<Verdict>,
    /// One per patient the batch admits or registers, in UUID order: the
    /// order in which every replica locks patient rows, so that two
    /// replicas landing the same patients cannot deadlock.
    pub patients: Vec<PatientRecord>,
    /// The indices of the readings, ordered by (patient, time, index): the
    /// order they are written in, for the same reason.
    pub readings: Vec<usize>,
}

impl Plan {
    /// Judges every message of a batch.
    ///
    /// The latest admission of a patient in the batch wins; a patient both
    /// admitted and registered by a reading is admitted. A reading that
    /// registers its patient does so with the earliest of that patient's
    /// named readings in the batch.
    pub fn of(batch: &[Received<'_>]) -> Plan {
        let verdicts: Vec<Verdict> = batch.iter().map(judge).collect();
        let mut patients: BTreeMap<Uuid, PatientRecord> = BTreeMap::new();
        for (index, verdict) in verdicts.iter().enumerate() {
            match verdict {
                Verdict::Admission(a) => {
                    patients.insert(
                        a.patient,
                        PatientRecord {
                            patient: a.patient,
                            name: a.name.clone(),
                            bed: a.bed.clone(),
                            admitted_at: a.admitted_at,
                            admission: Some(index),
                        },
                    );
                }
                Verdict::Reading(ScoredReading { reading: r, .. }) => {
                    let Some(name) = &r.name else { continue };
                    let record = patients.entry(r.patient).or_insert_with(|| PatientRecord {
                        patient: r.patient,
                        name: name.clone(),
                        bed: None,
                        admitted_at: r.measured_at,
                        admission: None,
                    });
                    if record.admission.is_none() && r.measured_at < record.admitted_at {
                        record.name.clone_from(name);
                        record.admitted_at = r.measured_at;
                    }
                }
                Verdict::Rejected(_) => {}
            }
        }
        let mut readings: Vec<usize> =
            verdicts.iter().enumerate().filter(|(_, v)| matches!(v, Verdict::Reading(_))).map(|(i, _)| i).collect();
        readings.sort_by_key(|&i| match &verdicts[i] {
            Verdict::Reading(s) => (s.reading.patient, s.reading.measured_at, i),
            _ => (Uuid::nil(), DateTime::<Utc>::MIN_UTC, i),
        });
        Plan { verdicts, patients: patients.into_values().collect(), readings }
    }

    /// The reading of message `index`, if it is one.
    pub fn reading(&self, index: usize) -> Option<&ScoredReading> {
        match self.verdicts.get(index) {
            Some(Verdict::Reading(r)) => Some(r),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeDelta;
    use serde_json::json;

    fn at(seconds: i64) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2026-11-24T08:00:00Z").unwrap().to_utc() + TimeDelta::seconds(seconds)
    }

    fn reading(patient: Uuid, name: Option<&str>, second: i64) -> Vec<u8> {
        let mut body = json!({"uuid": patient, "timestamp": at(second), "pulse": 72, "resp_rate": 16,
                              "bp": "120/80", "spo2": 97, "temperature": 36.9});
        if let Some(name) = name {
            body["name"] = json!(name);
        }
        body.to_string().into_bytes()
    }

    fn admission(patient: Uuid, name: &str) -> Vec<u8> {
        json!({"v": 1, "uuid": patient, "name": name, "bed": "B-1", "admitted_at": at(-3600)}).to_string().into_bytes()
    }

    fn received<'a>(channel: Channel<'a>, payload: &'a [u8], headers: &'a [(String, Vec<u8>)]) -> Received<'a> {
        Received { channel, payload, headers, received_at: at(3600) }
    }

    #[test]
    fn a_reading_is_scored_and_keeps_its_trace_context() {
        let p = Uuid::new_v4();
        let payload = reading(p, None, 0);
        let headers =
            vec![("TraceParent".to_owned(), b"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01".to_vec())];
        let Verdict::Reading(scored) = judge(&received(Channel::Readings, &payload, &headers)) else {
            panic!("a valid reading")
        };
        assert_eq!(scored.news2, News2::of(&scored.reading));
        assert_eq!(scored.trace.map(|t| t.span_id_hex()).as_deref(), Some("00f067aa0ba902b7"));
        let bad_header = vec![("traceparent".to_owned(), b"00-zz".to_vec())];
        let Verdict::Reading(scored) = judge(&received(Channel::Readings, &payload, &bad_header)) else {
            panic!("a bad header does not make a bad reading")
        };
        assert_eq!(scored.trace, None);
    }

    #[test]
    fn each_channel_is_judged_by_its_own_rules() {
        let p = Uuid::new_v4();
        let (r, a) = (reading(p, None, 0), admission(p, "Ada"));
        assert!(matches!(judge(&received(Channel::Admissions, &a, &[])), Verdict::Admission(_)));
        let Verdict::Rejected(rejection) = judge(&received(Channel::Admissions, &r, &[])) else {
            panic!("a reading is no admission")
        };
        assert_eq!(rejection.kind, "missing_field");
        let Verdict::Rejected(rejection) = judge(&received(Channel::Unknown("elsewhere"), &r, &[])) else {
            panic!("unknown topic")
        };
        assert_eq!((rejection.kind, rejection.reason.contains("\"elsewhere\"")), (UNKNOWN_TOPIC, true));
        let mut late = received(Channel::Readings, &r, &[]);
        late.received_at = at(-600);
        let Verdict::Rejected(rejection) = judge(&late) else { panic!("measured after receipt") };
        assert_eq!(rejection.kind, "impossible");
    }

    #[test]
    fn the_plan_admits_each_patient_once_in_uuid_order_and_writes_readings_in_key_order() {
        let (p, q) = (Uuid::new_v4(), Uuid::new_v4());
        let payloads = [
            reading(q, Some("Q late"), 10),
            admission(p, "P first"),
            reading(p, None, 5),
            reading(q, Some("Q early"), 0),
            admission(p, "P second"),
            reading(p, Some("P by reading"), 0),
        ];
        let channels = [
            Channel::Readings,
            Channel::Admissions,
            Channel::Readings,
            Channel::Readings,
            Channel::Admissions,
            Channel::Readings,
        ];
        let batch: Vec<Received<'_>> =
            payloads.iter().zip(channels).map(|(payload, channel)| received(channel, payload, &[])).collect();
        let plan = Plan::of(&batch);
        assert_eq!(plan.verdicts.len(), 6);
        let mut uuids = vec![p, q];
        uuids.sort();
        assert_eq!(plan.patients.iter().map(|r| r.patient).collect::<Vec<_>>(), uuids, "UUID order");
        let of = |u: Uuid| plan.patients.iter().find(|r| r.patient == u).unwrap();
        assert_eq!((of(p).name.as_str(), of(p).admission), ("P second", Some(4)), "the latest admission wins");
        assert_eq!((of(q).name.as_str(), of(q).admitted_at, of(q).admission), ("Q early", at(0), None));
        let keys: Vec<(Uuid, DateTime<Utc>)> = plan
            .readings
            .iter()
            .map(|&i| plan.reading(i).map(|s| (s.reading.patient, s.reading.measured_at)).unwrap())
            .collect();
        let mut sorted = keys.clone();
        sorted.sort();
        assert_eq!(keys, sorted);
        assert_eq!(keys.len(), 4);
    }
}
