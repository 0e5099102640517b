//! Every input the fuzz target `authorization` ever failed on
//! (`fuzz/regressions/authorization/`), and its seeds (`fuzz/seeds/authorization/`),
//! replayed through the very function the target calls, on stable Rust: CI
//! guards the fixes without nightly or libFuzzer.

use monitor_service::auth::robustness::{answer, check_authorization};
use monitor_service::auth::{Access, AuthError};

#[path = "../../../fuzz/corpus.rs"]
mod corpus;

use corpus::inputs;

#[test]
fn every_kept_finding_is_answered_without_a_panic() {
    let findings = inputs("regressions/authorization");
    for (name, data) in findings {
        eprintln!("{name}");
        check_authorization(&data);
    }
}

/// The seeds replay clean, and say what they were minted to say: the fixed
/// key set really verifies tokens (else the fuzzer would only ever explore
/// refusals).
#[test]
fn every_seed_is_answered_as_minted() {
    let seeds = inputs("seeds/authorization");
    assert!(seeds.len() >= 10, "fuzz/seeds/authorization: run fuzz/seeds/mint.py");
    for (name, data) in seeds {
        check_authorization(&data);
        let answer = answer(&data);
        let invalid = |reason: &str| matches!(&answer, Err(AuthError::Invalid(r)) if r.contains(reason));
        let ok = match name.as_str() {
            "es256-clinician" | "rs256-roles-string" => matches!(answer, Ok(ref p) if p.access == Access::Ward),
            "eddsa-patient" | "ps256-no-kid" => matches!(answer, Ok(ref p) if matches!(p.access, Access::Patient(_))),
            "es256-patient-without-uuid" => matches!(answer, Err(AuthError::Forbidden(_))),
            "es256-expired" => invalid("expired"),
            "es256-other-audience" => invalid("audience"),
            "hs256-confusion" => invalid("not accepted"),
            "unknown-kid" => invalid("does not publish"),
            "basic" | "claims-json" => answer == Err(AuthError::Missing),
            _ => answer.is_err(),
        };
        assert!(ok, "{name}: {answer:?}");
    }
}
