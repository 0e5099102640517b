//! Every input the fuzz target `message` ever failed on (`fuzz/regressions/message/`),
//! and its seeds (`fuzz/seeds/message/`), replayed through the very function the
//! target calls, on stable Rust: CI guards the fixes without nightly or libFuzzer.

#[path = "../../../fuzz/corpus.rs"]
mod corpus;

use corpus::inputs;

#[test]
fn every_kept_finding_is_judged_without_a_panic() {
    let findings = inputs("regressions/message");
    for (name, data) in findings {
        eprintln!("{name}");
        vitals::robustness::check_messages(&data);
    }
}

#[test]
fn every_seed_is_judged_without_a_panic() {
    let seeds = inputs("seeds/message");
    assert!(!seeds.is_empty(), "fuzz/seeds/message is empty");
    for (name, data) in seeds {
        eprintln!("{name}");
        vitals::robustness::check_messages(&data);
    }
}
