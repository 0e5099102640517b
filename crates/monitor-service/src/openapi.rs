//! The committed contract, `api/openapi.yaml`, compiled in and served as JSON.
//! The spec is the source of truth; the code is tested against it, never the
//! other way round.

use serde_json::Value;

/// The contract as committed.
pub const OPENAPI_YAML: &str = include_str!("../../../api/openapi.yaml");
/// The prefix the committed document's paths are written with.
pub const DOCUMENTED_PREFIX: &str = "/api/v1";

#[derive(Debug, thiserror::Error)]
#[error("api/openapi.yaml does not parse: {0}")]
pub struct SpecError(#[from] serde_norway::Error);

/// The contract as JSON, its paths moved under `prefix` when the service runs
/// with another `API_PREFIX`, so the document always matches what is served.
pub fn document(prefix: &str) -> Result<Value, SpecError> {
    let mut spec: Value = serde_norway::from_str(OPENAPI_YAML)?;
    if prefix != DOCUMENTED_PREFIX
        && let Some(Value::Object(paths)) = spec.get_mut("paths")
    {
        *paths = std::mem::take(paths)
            .into_iter()
            .map(|(path, item)| match path.strip_prefix(DOCUMENTED_PREFIX) {
                Some(rest) => (format!("{prefix}{rest}"), item),
                None => (path, item),
            })
            .collect();
    }
    Ok(spec)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_committed_spec_parses_and_moves_with_the_prefix() {
        let spec = document("/ward").unwrap();
        assert_eq!(spec["openapi"], "3.1.0");
        let paths = spec["paths"].as_object().unwrap();
        assert!(paths.contains_key("/ward/patients/{uuid}/metrics"));
        assert!(paths.contains_key("/patient/{uuid}/metrics"), "the original path does not move");
        assert!(!paths.keys().any(|p| p.starts_with("/api/v1")));
    }
}
