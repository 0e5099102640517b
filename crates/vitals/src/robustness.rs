//! What must hold of any bytes that reach data-service as messages: the
//! property the fuzz target `message` (`fuzz/`, `make fuzz`) checks, and the
//! stable test `tests/fuzz_regressions.rs` replays every kept finding through.
//!
//! The input is split into lines; each line is one message's payload, judged
//! as a reading, as an admission and on an unknown topic, with the line as
//! its `traceparent` header too, and all of them judged once more as one
//! batch ([`Plan::of`], exactly what data-service runs before its store
//! transaction). Plain JSON lines make readable seeds and findings.
//!
//! A violated property panics (that is how libFuzzer learns of it); a bad
//! message itself must never panic, only be rejected with a clear reason.

use chrono::{DateTime, Utc};

use crate::plan::{Channel, Plan, Received, UNKNOWN_TOPIC, Verdict, judge};
use crate::reading::{Admission, Reading, check_name, check_timestamp, limits};
use crate::trace_context::TraceContext;
use crate::wire::{AdmissionMessage, DecodeError, ReadingMessage};

/// When every message of a check is received: fixed, so a finding replays the same.
pub const RECEIVED_AT: &str = "2026-11-24T08:00:00Z";

/// Judges `data` (lines as messages) and panics if any property fails.
pub fn check_messages(data: &[u8]) {
    let received_at = DateTime::parse_from_rfc3339(RECEIVED_AT).map(|at| at.to_utc()).unwrap_or_default();
    let lines: Vec<&[u8]> = data.split(|&b| b == b'\n').collect();
    let headers: Vec<[(String, Vec<u8>); 1]> =
        lines.iter().map(|line| [("traceparent".to_owned(), line.to_vec())]).collect();
    let mut batch = Vec::with_capacity(lines.len() * 3);
    for (line, headers) in lines.iter().zip(&headers) {
        check_traceparent(line);
        for channel in [Channel::Readings, Channel::Admissions, Channel::Unknown("elsewhere")] {
            let message = Received { channel, payload: line, headers, received_at };
            check_verdict(&judge(&message), &message);
            batch.push(message);
        }
    }
    check_plan(&Plan::of(&batch), &batch);
}

fn check_verdict(verdict: &Verdict, message: &Received<'_>) {
    match verdict {
        Verdict::Reading(scored) => {
            assert_eq!(message.channel, Channel::Readings, "only the readings topic yields readings");
            check_reading(&scored.reading, message.received_at);
            assert_eq!(
                scored.trace,
                message.headers.first().and_then(|(_, v)| TraceContext::parse_traceparent(v)),
                "a reading carries the trace context of its header"
            );
        }
        Verdict::Admission(admission) => {
            assert_eq!(message.channel, Channel::Admissions, "only the patients topic yields admissions");
            check_admission(admission);
        }
        Verdict::Rejected(rejection) => {
            assert!(
                DecodeError::KINDS.contains(&rejection.kind) || rejection.kind == UNKNOWN_TOPIC,
                "quarantine kind {:?} has no counter",
                rejection.kind
            );
            assert!(!rejection.reason.trim().is_empty(), "a rejection says why");
        }
    }
}

/// A valid reading is inside the domain's limits (the store writes them as
/// `smallint` without a check) and survives being published again.
fn check_reading(r: &Reading, received_at: DateTime<Utc>) {
    assert!(check_name(r.name.as_deref()).is_ok(), "name {:?} passed validation", r.name);
    assert!(check_timestamp(r.measured_at).is_ok(), "timestamp {} passed validation", r.measured_at);
    assert!(r.measured_at <= received_at + chrono::TimeDelta::seconds(crate::reading::MAX_CLOCK_SKEW_SECONDS));
    assert!(r.pulse <= limits::PULSE.1 && r.resp_rate <= limits::RESP_RATE.1 && r.spo2 <= limits::SPO2.1);
    assert!(r.bp.systolic <= limits::SYSTOLIC.1 && r.bp.diastolic < r.bp.systolic);
    assert!((limits::TEMPERATURE.0..=limits::TEMPERATURE.1).contains(&r.temperature));
    let again = ReadingMessage::decode(&ReadingMessage::from(r).encode());
    assert_eq!(again.as_ref(), Ok(r), "a valid reading, encoded again, decodes to itself");
}

/// A valid admission holds what the store can write: its time too (the
/// store writes `admitted_at` as given; PostgreSQL refuses years before 4713 BC).
fn check_admission(a: &Admission) {
    assert!(check_name(Some(&a.name)).is_ok(), "name {:?} passed validation", a.name);
    assert!(check_timestamp(a.admitted_at).is_ok(), "admission time {} passed validation", a.admitted_at);
    if let Some(bed) = &a.bed {
        assert!(!bed.trim().is_empty() && bed.chars().count() <= 64 && !bed.contains(char::is_control));
    }
    let again = AdmissionMessage::decode(&AdmissionMessage::from(a).encode());
    assert_eq!(again.as_ref(), Ok(a), "a valid admission, encoded again, decodes to itself");
}

fn check_traceparent(value: &[u8]) {
    if let Some(tc) = TraceContext::parse_traceparent(value) {
        let canonical = format!("00-{}-{}-{:02x}", tc.trace_id_hex(), tc.span_id_hex(), tc.flags);
        assert_eq!(TraceContext::parse_traceparent(canonical.as_bytes()), Some(tc), "trace context round trip");
    }
}

/// The batch's plan: one verdict per message, the same as judged alone;
/// patients unique in UUID order; readings in (patient, time) order.
fn check_plan(plan: &Plan, batch: &[Received<'_>]) {
    assert_eq!(plan.verdicts.len(), batch.len());
    for (verdict, message) in plan.verdicts.iter().zip(batch) {
        assert_eq!(verdict, &judge(message), "a message's verdict does not depend on its batch");
    }
    assert!(plan.patients.windows(2).all(|w| w[0].patient < w[1].patient), "patients unique, in UUID order");
    let keys: Vec<_> = plan
        .readings
        .iter()
        .filter_map(|&i| plan.reading(i))
        .map(|s| (s.reading.patient, s.reading.measured_at))
        .collect();
    assert_eq!(keys.len(), plan.readings.len(), "every planned reading is a reading");
    assert!(keys.windows(2).all(|w| w[0] <= w[1]), "readings in (patient, time) order");
    for record in &plan.patients {
        assert!(check_name(Some(&record.name)).is_ok(), "a patient's name passed validation");
    }
}
