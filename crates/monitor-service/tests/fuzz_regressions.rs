//! Every input the fuzz target `authorization` ever failed on
//! (`fuzz/regressions/authorization/`), and its seeds (`fuzz/seeds/authorization/`),
//! replayed through the very function the target calls, on stable Rust: CI
//! guards the fixes without nightly or libFuzzer.

use std::path::PathBuf;

use monitor_service::auth::robustness::{answer, check_authorization};
use monitor_service::auth::{Access, AuthError};

fn inputs(dir: &str) -> Vec<(String, Vec<u8>)> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fuzz").join(dir);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.file_name().is_some_and(|name| !name.to_string_lossy().starts_with('.')))
        .collect();
    files.sort();
    files
        .into_iter()
        .map(|path| (path.file_name().unwrap().to_string_lossy().into_owned(), std::fs::read(&path).unwrap()))
        .collect()
}

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
