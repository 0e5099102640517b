//! Swagger UI's files for `/docs`, taken from the release archive that the
//! `utoipa-swagger-ui-vendored` crate carries (so no network at build time):
//! only the few the page loads. The archive's `dist/` also holds source maps
//! and two unused bundles, 11 MB that would otherwise sit in the binary.

use std::io::{Cursor, Read};
use std::path::PathBuf;

/// The files `src/docs.rs` serves, as named under the archive's `dist/`.
const FILES: [&str; 6] =
    ["index.html", "index.css", "swagger-ui.css", "swagger-ui-bundle.js", "favicon-16x16.png", "favicon-32x32.png"];
const VERSION: &str = "5.17.14";

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let out = PathBuf::from(std::env::var("OUT_DIR")?).join("swagger-ui");
    std::fs::create_dir_all(&out)?;
    let mut archive = zip::ZipArchive::new(Cursor::new(utoipa_swagger_ui_vendored::SWAGGER_UI_VENDORED))?;
    let paths = FILES.iter().map(|f| (*f, format!("swagger-ui-{VERSION}/dist/{f}")));
    for (name, path) in paths.chain([("LICENSE", format!("swagger-ui-{VERSION}/LICENSE"))]) {
        let mut bytes = Vec::new();
        archive.by_name(&path)?.read_to_end(&mut bytes)?;
        if name == "index.html" {
            bytes = without_standalone_preset(&bytes)?;
        }
        std::fs::write(out.join(name), bytes)?;
    }
    Ok(())
}

/// The page shows one contract in the plain layout: the standalone preset
/// (the URL bar) is not bundled, so the page must not load it.
fn without_standalone_preset(html: &[u8]) -> Result<Vec<u8>, Box<dyn std::error::Error>> {
    const PRESET: &str = r#"<script src="./swagger-ui-standalone-preset.js" charset="UTF-8"> </script>"#;
    let html = std::str::from_utf8(html)?;
    if !html.contains(PRESET) {
        return Err(format!("Swagger UI {VERSION}'s index.html no longer loads the preset as expected").into());
    }
    Ok(html.replace(PRESET, "").into_bytes())
}
