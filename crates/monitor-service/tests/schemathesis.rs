//! Schemathesis (property-based API testing from the OpenAPI document)
//! against the running service and the committed contract: every check, no
//! failure, with access control on and a clinician's token (schemathesis also
//! checks that each secured operation refuses a request without it). `make
//! test` installs schemathesis and names it in `SCHEMATHESIS`.

mod common;

use std::process::Command;

use common::issuer::{Issuer, SigningKey, clinician_claims};
use common::*;
use testkit::TestDatabase;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn schemathesis_finds_no_deviation_from_the_contract() {
    let schemathesis = std::env::var("SCHEMATHESIS").unwrap_or_else(|_| {
        panic!("SCHEMATHESIS is not set: run the tests with `make test`, which installs schemathesis in a venv")
    });
    let db = TestDatabase::fresh().await;
    let mut ward = Ward::new(&db);
    for bed in ["01", "02", "03"] {
        let p = ward.admit(&format!("Fuzz {bed}"), bed).await;
        ward.readings(p, &seconds_ending(chrono::TimeDelta::zero(), 30)).await;
        if bed == "03" {
            // An escalated patient, so that /alerts answers with an alert.
            let now = chrono::Utc::now();
            let ill = serde_json::json!({"uuid": p, "timestamp": now, "pulse": 135, "resp_rate": 26,
                                         "bp": "95/60", "spo2": 90, "temperature": 39.4});
            ward.land("icu.vitals", vec![ill]).await;
        }
    }
    let key = SigningKey::ec("schemathesis");
    let issuer = Issuer::start(&[&key]).await;
    let api = Running::start_with_auth(&db, &issuer, &[]).await;
    let authorization = format!("Authorization: Bearer {}", key.sign(&clinician_claims()));
    let location = api.url("/openapi.json");
    let reports = tempfile::tempdir().unwrap();
    let report_dir = reports.path().to_str().unwrap().to_owned();
    let config = format!("{}/../../api/schemathesis.toml", env!("CARGO_MANIFEST_DIR"));

    let output = tokio::task::spawn_blocking(move || {
        Command::new(&schemathesis)
            .args([
                "--config-file",
                config.as_str(),
                "run",
                &location,
                "--checks",
                "all",
                "--max-examples",
                "40",
                "--seed",
                "1",
                "--header",
                &authorization,
            ])
            .args(["--generation-database", "none", "--report-dir", &report_dir, "--no-color"])
            .current_dir(&report_dir)
            .output()
            .expect("run schemathesis")
    })
    .await
    .unwrap();
    let printed = format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
    assert!(output.status.success(), "schemathesis found problems:\n{printed}");
    assert!(printed.contains("passed"), "schemathesis ran no test:\n{printed}");
    api.stop().await;
}
