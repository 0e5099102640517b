//! Every input the fuzz target `message` ever failed on (`fuzz/regressions/message/`),
//! and its seeds (`fuzz/seeds/message/`), replayed through the very function the
//! target calls, on stable Rust: CI guards the fixes without nightly or libFuzzer.

use std::path::PathBuf;

fn inputs(dir: &str) -> Vec<(PathBuf, Vec<u8>)> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fuzz").join(dir);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.file_name().is_some_and(|name| !name.to_string_lossy().starts_with('.')))
        .collect();
    files.sort();
    files.into_iter().map(|path| (path.clone(), std::fs::read(&path).unwrap())).collect()
}

#[test]
fn every_kept_finding_is_judged_without_a_panic() {
    let findings = inputs("regressions/message");
    for (path, data) in findings {
        eprintln!("{}", path.display());
        vitals::robustness::check_messages(&data);
    }
}

#[test]
fn every_seed_is_judged_without_a_panic() {
    let seeds = inputs("seeds/message");
    assert!(!seeds.is_empty(), "fuzz/seeds/message is empty");
    for (path, data) in seeds {
        eprintln!("{}", path.display());
        vitals::robustness::check_messages(&data);
    }
}
