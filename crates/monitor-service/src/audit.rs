//! The audit trail of access to patient data: one JSON line per access under
//! the target `audit` (who: the token's subject; which patient, or none for a
//! ward-wide read; which route; allowed or not), so an audit can be cut from
//! the logs with `jq 'select(.target == "audit")'`. The token never appears.

use crate::auth::{AuthError, Principal};

pub const TARGET: &str = "audit";

pub fn access(principal: &Principal, patient: Option<uuid::Uuid>, route: &str, allowed: bool) {
    let subject = principal.subject.as_deref();
    let patient = patient.map(|p| p.to_string());
    let outcome = if allowed { "allowed" } else { "denied" };
    tracing::info!(target: TARGET, sub = subject, patient, route, outcome, "patient data access");
}

/// A request refused before its caller was known (no or a bad token).
pub fn refused(route: &str, error: &AuthError) {
    tracing::info!(target: TARGET, route, outcome = "refused", reason = %error, "patient data access");
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use serde_json::Value;
    use uuid::Uuid;

    use crate::auth::{Access, Caller, Principal};

    #[derive(Clone, Default)]
    struct Lines(Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for Lines {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn every_access_is_one_audit_line_naming_who_which_patient_and_route() {
        let (own, other) = (Uuid::new_v4(), Uuid::new_v4());
        let caller = Caller {
            principal: Principal { subject: Some("patient-ada".into()), access: Access::Patient(own) },
            route: "/api/v1/patients/{uuid}".into(),
        };
        let lines = Lines::default();
        let writer = lines.clone();
        let subscriber = tracing_subscriber::fmt()
            .event_format(telemetry::logging::JsonLines)
            .with_writer(move || writer.clone())
            .finish();
        tracing::subscriber::with_default(subscriber, || {
            assert!(caller.open(own).is_ok());
            assert!(caller.open(other).is_err());
            assert_eq!(caller.scope(), Some(own));
        });
        let text = String::from_utf8(lines.0.lock().unwrap().clone()).unwrap();
        let lines: Vec<Value> = text.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
        assert_eq!(lines.len(), 3, "{text}");
        for (line, (patient, outcome)) in lines.iter().zip([(own, "allowed"), (other, "denied"), (own, "allowed")]) {
            assert_eq!(line["target"], "audit", "{line}");
            assert_eq!(line["sub"], "patient-ada");
            assert_eq!(line["patient"], patient.to_string());
            assert_eq!(line["route"], "/api/v1/patients/{uuid}");
            assert_eq!(line["outcome"], outcome);
            assert!(line["timestamp"].is_string());
        }
    }
}
