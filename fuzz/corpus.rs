//! The files of a fuzz target's kept inputs (`fuzz/regressions/TARGET/`,
//! `fuzz/seeds/TARGET/`), for the stable `fuzz_regressions` tests of the
//! crates whose functions the targets call (included with `#[path]`: test
//! helpers, not worth a crate of their own).

use std::path::PathBuf;

/// Each file of `fuzz/{dir}` (dot files aside) by name, with its bytes, in name order.
pub fn inputs(dir: &str) -> Vec<(String, Vec<u8>)> {
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
