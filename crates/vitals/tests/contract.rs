//! The committed contract (`api/schemas/*.json`, referenced by
//! `api/asyncapi.yaml`) and the Rust wire types must not drift.
//! Regenerate after a deliberate change with `UPDATE_CONTRACTS=1 cargo test -p vitals --test contract`.

use std::path::PathBuf;

use vitals::wire::schemas;

fn api_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../api")
}

fn committed(file: &str) -> serde_json::Value {
    let path = api_dir().join("schemas").join(file);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap()
}

#[test]
fn committed_schemas_match_the_wire_types() {
    for (file, generated) in schemas() {
        if std::env::var_os("UPDATE_CONTRACTS").is_some() {
            let text = serde_json::to_string_pretty(&generated).unwrap() + "\n";
            std::fs::write(api_dir().join("schemas").join(file), text).unwrap();
        }
        assert_eq!(
            committed(file),
            generated,
            "api/schemas/{file} and the Rust types differ; if the change is deliberate, \
             run UPDATE_CONTRACTS=1 cargo test -p vitals --test contract and review the diff"
        );
    }
}

#[test]
fn asyncapi_document_references_every_schema_and_both_topics() {
    let text = std::fs::read_to_string(api_dir().join("asyncapi.yaml")).unwrap();
    assert!(text.starts_with("asyncapi: 3."), "AsyncAPI 3 document expected");
    for (file, _) in schemas() {
        assert!(text.contains(&format!("./schemas/{file}")), "asyncapi.yaml does not reference {file}");
    }
    for needle in ["address: icu.vitals", "address: icu.patients", "traceparent", "key"] {
        assert!(text.contains(needle), "asyncapi.yaml lacks {needle:?}");
    }
}

#[test]
fn schemas_accept_the_original_format_and_reject_what_the_decoder_rejects() {
    let reading = jsonschema::validator_for(&committed("reading.v1.json")).unwrap();
    let original = serde_json::json!({
        "uuid": "0b7e6c1e-3c1a-4d5e-9f00-2a4b6c8d0e1f", "name": "Ada", "timestamp": "2026-11-24T08:00:00Z",
        "pulse": 72, "resp_rate": 16, "bp": "120/80", "spo2": 98, "temperature": 36.8
    });
    assert!(reading.is_valid(&original));
    assert!(vitals::ReadingMessage::decode(original.to_string().as_bytes()).is_ok());
    for (field, bad) in [
        ("pulse", serde_json::json!(301)),
        ("spo2", serde_json::json!(-1)),
        ("temperature", serde_json::json!(45.5)),
        ("bp", serde_json::json!("120-80")),
        ("v", serde_json::json!(2)),
        ("pulse", serde_json::json!("72")),
    ] {
        let mut message = original.clone();
        message[field] = bad.clone();
        assert!(!reading.is_valid(&message), "schema accepted {field} = {bad}");
        assert!(
            vitals::ReadingMessage::decode(message.to_string().as_bytes()).is_err(),
            "decoder accepted {field} = {bad}"
        );
    }
    let admission = jsonschema::validator_for(&committed("admission.v1.json")).unwrap();
    let ok = serde_json::json!({"v": 1, "uuid": "0b7e6c1e-3c1a-4d5e-9f00-2a4b6c8d0e1f", "name": "Ada", "admitted_at": "2026-11-24T07:00:00Z"});
    assert!(admission.is_valid(&ok));
    let mut no_name = ok.clone();
    no_name.as_object_mut().unwrap().remove("name");
    assert!(!admission.is_valid(&no_name));
}
