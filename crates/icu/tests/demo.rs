//! The whole ward in one process, as `icu demo` runs it: emulator → embedded
//! broker → data-service → PostgreSQL → monitor-service. The issue's "done
//! when": every emulated patient shows up in the API with a fresh reading,
//! the original path answers, and errors are problem+json.

use std::time::{Duration, Instant};

use icu::demo::{DemoArgs, run_with};
use testkit::TestDatabase;
use tokio::sync::oneshot;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_ward_shows_every_emulated_patient_with_a_fresh_reading() {
    let db = TestDatabase::fresh().await;
    let args = DemoArgs {
        database_url: db.url.parse().unwrap(),
        patients: 6,
        interval: "0.3".into(),
        seed: 7,
        patient_port: 0,
        data_port: 0,
        api_port: 0,
        auth_mode: monitor_service::AuthMode::None,
        debug: false,
    };
    let (ready_tx, ready_rx) = oneshot::channel();
    let (stop_tx, stop_rx) = oneshot::channel::<()>();
    // The demo's future holds the embedded broker, which is not Send: drive
    // it and the checks side by side on this task.
    let demo = run_with(
        args,
        async {
            let _ = stop_rx.await;
        },
        move |ward| {
            let _ = ready_tx.send(ward.clone());
        },
    );
    let checks = async move {
        let ward = ready_rx.await.expect("the demo starts");
        let api = format!("http://{}", ward.monitor_service);
        // Every link of the banner opens (the ward page, the API, the docs,
        // the stream, the emulator), named as a browser can open it.
        let banner = icu::demo::banner(&ward, 6, "0.3");
        let links: Vec<&str> = banner.split_whitespace().filter(|w| w.starts_with("http://localhost:")).collect();
        assert_eq!(links.len(), 5, "{banner}");
        for link in links {
            let response = reqwest::get(link).await.unwrap();
            assert_eq!(response.status(), 200, "{link}");
        }
        let client = reqwest::Client::new();

        // Poll until every patient has a reading that is not stale.
        let deadline = Instant::now() + Duration::from_secs(60);
        let patients = loop {
            let body: serde_json::Value =
                client.get(format!("{api}/api/v1/patients")).send().await.unwrap().json().await.unwrap();
            let list = body.as_array().cloned().or_else(|| body["patients"].as_array().cloned()).unwrap_or_default();
            let fresh = list.iter().filter(|p| !p["latest"].is_null() && p["stale"] == false).count();
            if list.len() == 6 && fresh == 6 {
                break list;
            }
            assert!(Instant::now() < deadline, "not all 6 patients fresh within 60 s: {body}");
            tokio::time::sleep(Duration::from_millis(300)).await;
        };

        // The emulator's patients are the API's patients.
        let emulated: serde_json::Value = client
            .get(format!("http://{}/api/v1/patients", ward.patient_service))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let emulated = emulated.as_array().cloned().or_else(|| emulated["patients"].as_array().cloned()).unwrap();
        let mut emulated_ids: Vec<_> = emulated.iter().map(|p| p["uuid"].as_str().unwrap().to_owned()).collect();
        let mut api_ids: Vec<_> = patients.iter().map(|p| p["uuid"].as_str().unwrap().to_owned()).collect();
        emulated_ids.sort();
        api_ids.sort();
        assert_eq!(emulated_ids, api_ids);

        // The original assignment's path answers with the same readings.
        let uuid = &api_ids[0];
        let original = client.get(format!("{api}/patient/{uuid}/metrics")).send().await.unwrap();
        assert_eq!(original.status(), 200);
        let original: serde_json::Value = original.json().await.unwrap();
        assert!(original.to_string().contains("\"bp\":\""), "readings carry bp as a string: {original}");

        // Errors are problem+json.
        let bad = client.get(format!("{api}/api/v1/patients/not-a-uuid")).send().await.unwrap();
        assert_eq!(bad.status(), 400);
        assert_eq!(bad.headers()["content-type"], "application/problem+json");

        stop_tx.send(()).unwrap();
    };
    let (outcome, ()) = tokio::join!(demo, checks);
    outcome.expect("the demo stops cleanly");
}
