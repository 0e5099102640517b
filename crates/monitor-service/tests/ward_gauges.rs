//! The ward as Prometheus gauges on `/metrics`, over a real PostgreSQL filled
//! through the real landing code.

mod common;

use chrono::{TimeDelta, Utc};
use common::*;
use serde_json::json;
use testkit::TestDatabase;
use uuid::Uuid;

fn series(name: &str, patient: Uuid, bed: &str) -> String {
    format!("{name}{{patient=\"{patient}\",bed=\"{bed}\"}}")
}

/// A ward of four: fresh, silent for ten minutes, never measured, and one
/// whose pulse alone scores 3.
async fn four_beds(db: &TestDatabase) -> (Uuid, Uuid, Uuid, Uuid) {
    let mut ward = Ward::new(db);
    let fresh = ward.admit("Ada Lovelace", "01").await;
    ward.readings(fresh, &seconds_ending(TimeDelta::zero(), 3)).await;
    let silent = ward.admit("Ben Silent", "02").await;
    ward.readings(silent, &seconds_ending(TimeDelta::minutes(10), 2)).await;
    let never = ward.admit("Cleo New", "03").await;
    let racing = ward.admit("Dan Racing", "04").await;
    ward.land(
        "icu.vitals",
        vec![json!({"uuid": racing, "timestamp": Utc::now(), "pulse": 135, "resp_rate": 18, "bp": "121/79",
                    "spo2": 95, "temperature": 37.4})],
    )
    .await;
    (fresh, silent, never, racing)
}

#[tokio::test]
async fn every_patient_has_latest_vitals_news2_age_and_staleness() {
    let db = TestDatabase::fresh().await;
    let (fresh, silent, never, racing) = four_beds(&db).await;
    let api = Running::start(&db, &["--metrics-interval", "5"]).await;

    assert_eq!(api.metric("icu_ward_patients").await, Some(4.0));
    // The newest of three readings: pulse 62; rr 18, spo2 95 (1), bp 121/79, 37.4 °C: NEWS2 1.
    for (name, value) in [
        ("icu_ward_pulse_beats_per_minute", 62.0),
        ("icu_ward_resp_rate_breaths_per_minute", 18.0),
        ("icu_ward_bp_systolic_mmhg", 121.0),
        ("icu_ward_bp_diastolic_mmhg", 79.0),
        ("icu_ward_spo2_percent", 95.0),
        ("icu_ward_temperature_celsius", 37.4),
        ("icu_ward_news2_score", 1.0),
        ("icu_ward_news2_max_parameter_score", 1.0),
        ("icu_ward_patient_stale", 0.0),
    ] {
        assert_eq!(api.metric(&series(name, fresh, "01")).await, Some(value), "{name}");
    }
    let age = api.metric(&series("icu_ward_reading_age_seconds", fresh, "01")).await.unwrap();
    assert!((0.0..5.0).contains(&age), "a reading of now is {age} s old");

    let age = api.metric(&series("icu_ward_reading_age_seconds", silent, "02")).await.unwrap();
    assert!(age >= 600.0, "ten minutes of silence show as {age} s");
    assert_eq!(api.metric(&series("icu_ward_patient_stale", silent, "02")).await, Some(1.0));

    assert_eq!(api.metric(&series("icu_ward_patient_stale", never, "03")).await, Some(1.0), "never measured = stale");
    assert_eq!(api.metric(&series("icu_ward_pulse_beats_per_minute", never, "03")).await, None, "and nothing to chart");

    // Pulse 135 scores 3 on its own: total 4 (low), but an urgent review.
    assert_eq!(api.metric(&series("icu_ward_news2_score", racing, "04")).await, Some(4.0));
    assert_eq!(api.metric(&series("icu_ward_news2_max_parameter_score", racing, "04")).await, Some(3.0));

    // A new reading shows at a later scrape (the snapshot is reused for a second at most).
    Ward::new(&db)
        .land(
            "icu.vitals",
            vec![json!({"uuid": fresh, "timestamp": Utc::now() + TimeDelta::milliseconds(10), "pulse": 99,
                        "resp_rate": 18, "bp": "121/79", "spo2": 95, "temperature": 37.4})],
        )
        .await;
    api.wait_for_metric(&series("icu_ward_pulse_beats_per_minute", fresh, "01"), 99.0).await;
    api.stop().await;
}

#[tokio::test]
async fn beyond_the_bound_only_the_worst_patients_have_series_and_off_means_none() {
    let db = TestDatabase::fresh().await;
    let (fresh, silent, never, racing) = four_beds(&db).await;

    let api = Running::start(&db, &["--metrics-interval", "5", "--ward-gauges-max-patients", "2"]).await;
    assert_eq!(api.metric("icu_ward_patients").await, Some(4.0), "everyone is counted");
    // NEWS2 4 first, then of the two at NEWS2 1 the one silent for longest.
    assert_eq!(api.metric(&series("icu_ward_news2_score", racing, "04")).await, Some(4.0));
    assert_eq!(api.metric(&series("icu_ward_patient_stale", silent, "02")).await, Some(1.0));
    assert_eq!(api.metric(&series("icu_ward_patient_stale", fresh, "01")).await, None);
    assert_eq!(api.metric(&series("icu_ward_patient_stale", never, "03")).await, None);
    let text = api.get("/metrics").await.text().await.unwrap();
    let per_patient = text.lines().filter(|l| l.starts_with("icu_ward_") && l.contains("patient=\"")).count();
    assert_eq!(per_patient, 2 * 10, "ten series for each of two patients:\n{text}");
    api.stop().await;

    let api = Running::start(&db, &["--ward-gauges", "off"]).await;
    let text = api.get("/metrics").await.text().await.unwrap();
    assert!(!text.contains("icu_ward_"), "WARD_GAUGES=off exports no ward series:\n{text}");
    assert!(text.contains("icu_page_cache_"), "the other metrics stay");
    api.stop().await;
}
