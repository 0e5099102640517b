//! The live stream over HTTP, against the real service and PostgreSQL, fed
//! by the real landing code: every reading stored is delivered once, in
//! order per patient; `Last-Event-ID` resumes without loss or duplicate; a
//! client that stops reading holds nobody up; `?patient=` filters.

mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use common::sse::Sse;
use common::*;
use serde_json::Value;
use testkit::TestDatabase;
use uuid::Uuid;

/// The service with the listener heard from, so nothing landed after this is missed.
async fn start(db: &TestDatabase, extra: &[&str]) -> Running {
    let api = Running::start(db, extra).await;
    api.wait_for_metric("icu_page_cache_listening", 1.0).await;
    api
}

fn at(second: i64) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-11-29T08:00:00Z").unwrap().to_utc() + TimeDelta::seconds(second)
}

#[tokio::test]
async fn every_stored_reading_and_admission_is_delivered_once_in_order_per_patient() {
    let db = TestDatabase::fresh().await;
    let api = start(&db, &[]).await;
    let mut client = Sse::connect(&api, "", None).await;
    let mut ward = Ward::new(&db);

    let a = ward.admit("Ada", "01").await;
    let admission = client.event().await;
    assert_eq!(admission.event.as_deref(), Some("admission"));
    let data: Value = serde_json::from_str(&admission.data).unwrap();
    assert_valid("Admission", &data);
    assert_eq!(
        (data["uuid"].as_str(), data["name"].as_str(), data["bed"].as_str()),
        (Some(&*a.to_string()), Some("Ada"), Some("01"))
    );
    let (b, c) = (ward.admit("Ben", "02").await, ward.admit("Cleo", "03").await);

    // Batches mixing the three, each patient's readings in time order.
    let mut expected: Vec<(Uuid, DateTime<Utc>)> = Vec::new();
    for round in 0..5 {
        let batch: Vec<(Uuid, DateTime<Utc>)> =
            (0..4).flat_map(|i| [a, b, c].map(|p| (p, at(round * 10 + i)))).collect();
        ward.mixed_readings(&batch).await;
        expected.extend(&batch);
        if round == 2 {
            // A redelivered batch stores nothing and sends nothing.
            ward.redeliver_last(&batch).await;
        }
    }
    // Ben's and Cleo's admissions first, then the first reading, as the contract says.
    for _ in 0..2 {
        assert_eq!(client.event().await.event.as_deref(), Some("admission"));
    }
    let first = client.event().await;
    let data: Value = serde_json::from_str(&first.data).unwrap();
    assert_valid("StreamReading", &data);
    assert_eq!(data["reading"]["news2"], serde_json::json!({"score": 1, "band": "low", "scored_three": []}));
    let mut got = vec![(
        first.id.unwrap(),
        data["patient"].as_str().unwrap().parse().unwrap(),
        data["reading"]["timestamp"].as_str().unwrap().parse().unwrap(),
    )];
    got.extend(client.readings(expected.len() - 1).await);

    let per_patient = |list: &[(Uuid, DateTime<Utc>)]| {
        let mut map: BTreeMap<Uuid, Vec<DateTime<Utc>>> = BTreeMap::new();
        for (p, t) in list {
            map.entry(*p).or_default().push(*t);
        }
        map
    };
    let received: Vec<(Uuid, DateTime<Utc>)> = got.iter().map(|(_, p, t)| (*p, *t)).collect();
    assert_eq!(per_patient(&received), per_patient(&expected), "each reading once, in order per patient");
    let seqs: Vec<u64> = got.iter().map(|(id, _, _)| id.rsplit_once('-').unwrap().1.parse().unwrap()).collect();
    assert!(seqs.windows(2).all(|w| w[0] < w[1]), "ids increase: {seqs:?}");

    // Nothing more was sent: the next event is a reading landed now.
    ward.mixed_readings(&[(b, at(1000))]).await;
    let next = client.readings(1).await;
    assert_eq!((next[0].1, next[0].2), (b, at(1000)), "no duplicate before it");
    api.stop().await;
}

#[tokio::test]
async fn last_event_id_resumes_without_loss_or_duplicate() {
    let db = TestDatabase::fresh().await;
    let api = start(&db, &[]).await;
    let mut ward = Ward::new(&db);
    let a = ward.admit("Ada", "01").await;
    let b = ward.admit("Ben", "02").await;
    let mut steady = Sse::connect(&api, "", None).await;
    let mut leaving = Sse::connect(&api, "", None).await;

    let batch = |from: i64| -> Vec<(Uuid, DateTime<Utc>)> {
        (from..from + 10).flat_map(|s| [(a, at(s)), (b, at(s))]).collect()
    };
    ward.mixed_readings(&batch(0)).await;
    let seen = leaving.readings(7).await;
    let last_id = seen.last().unwrap().0.clone();
    drop(leaving);
    ward.mixed_readings(&batch(100)).await;
    ward.mixed_readings(&batch(200)).await;

    let all = steady.readings(60).await;
    let mut resumed = Sse::connect(&api, "", Some(&last_id)).await;
    let rest = resumed.readings(60 - 7).await;
    assert_eq!(rest, all[7..].to_vec(), "exactly what came after {last_id}, ids and all");
    // And it carries on live.
    ward.mixed_readings(&[(a, at(500))]).await;
    assert_eq!(resumed.readings(1).await[0].2, at(500));
    assert_eq!(api.metric("icu_stream_resumed_total").await, Some(1.0));

    // An id of another run cannot be resumed from: resync first, then live.
    let mut stranger = Sse::connect(&api, "", Some("abc123-5")).await;
    let resync = stranger.event().await;
    assert_eq!(resync.event.as_deref(), Some("resync"));
    let data: Value = serde_json::from_str(&resync.data).unwrap();
    assert_valid("Resync", &data);
    assert_eq!(data["reason"], "unknown_stream");
    ward.mixed_readings(&[(b, at(501))]).await;
    assert_eq!(stranger.readings(1).await[0].2, at(501));

    // Garbage is a clear 400 naming the header.
    let response = reqwest::Client::new()
        .get(api.url("/api/v1/stream"))
        .header("Last-Event-ID", "yesterday")
        .send()
        .await
        .unwrap();
    assert_eq!(problem(response, 400).await["parameter"], "Last-Event-ID");
    api.stop().await;
}

#[tokio::test]
async fn a_resume_from_further_back_than_the_replay_holds_is_told_to_resync() {
    let db = TestDatabase::fresh().await;
    let api = start(&db, &["--stream-replay", "5"]).await;
    let mut ward = Ward::new(&db);
    let a = ward.admit("Ada", "01").await;
    let mut client = Sse::connect(&api, "", None).await;
    ward.mixed_readings(&(0..3).map(|s| (a, at(s))).collect::<Vec<_>>()).await;
    let first = client.readings(1).await[0].0.clone();
    ward.mixed_readings(&(3..12).map(|s| (a, at(s))).collect::<Vec<_>>()).await;
    client.readings(11).await;
    let mut late = Sse::connect(&api, "", Some(&first)).await;
    let resync = late.event().await;
    let data: Value = serde_json::from_str(&resync.data).unwrap();
    assert_eq!((resync.event.as_deref(), data["reason"].as_str()), (Some("resync"), Some("too_far_behind")));
    assert_eq!(api.metric("icu_stream_resyncs_total{reason=\"too_far_behind\"}").await, Some(1.0));
    api.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_stops_reading_does_not_hold_up_another() {
    let db = TestDatabase::fresh().await;
    // A client may fall 1,024 events behind; the replay holds them all.
    let api = start(&db, &["--stream-client-buffer", "1024", "--stream-replay", "100000"]).await;
    let mut ward = Ward::new(&db);
    let mut beds = Vec::new();
    for bed in 0..100 {
        beds.push(ward.admit(&format!("P{bed}"), &format!("{bed:03}")).await);
    }
    // Subscribed, then never read again: its socket and the server's
    // buffers fill, and the server must not wait for it.
    let stalled = Sse::connect(&api, "", None).await;
    let mut reader = Sse::connect(&api, "", None).await;
    // 60,000 events, ≈ 24 MB: more than the stalled client's socket buffers
    // hold. The reader reads as a browser does: should it ever fall behind
    // on this busy machine and be disconnected, it resumes from its last id.
    let rounds: i64 = 600;
    let total = rounds as usize * beds.len();
    let url = api.url("");
    let reading = tokio::spawn(async move {
        let mut got: Vec<(String, Uuid, DateTime<Utc>)> = Vec::with_capacity(total);
        while got.len() < total {
            match reader.frame().await {
                Some(frame) if frame.event.as_deref() == Some("reading") => {
                    let data: Value = serde_json::from_str(&frame.data).unwrap();
                    let patient = data["patient"].as_str().unwrap().parse().unwrap();
                    let at = data["reading"]["timestamp"].as_str().unwrap().parse().unwrap();
                    got.push((frame.id.unwrap(), patient, at));
                }
                Some(frame) => assert_ne!(frame.event.as_deref(), Some("resync"), "{frame:?}"),
                None => {
                    let last = got.last().map(|(id, _, _)| id.clone());
                    reader = Sse::reconnect(&url, last.as_deref()).await;
                }
            }
        }
        got
    });
    for round in 0..rounds {
        let batch: Vec<(Uuid, DateTime<Utc>)> = beds.iter().map(|p| (*p, at(round))).collect();
        ward.mixed_readings(&batch).await;
    }
    let got = reading.await.unwrap();
    let mut expected: Vec<(Uuid, DateTime<Utc>)> =
        (0..rounds).flat_map(|round| beds.iter().map(move |p| (*p, at(round)))).collect();
    let mut received: Vec<(Uuid, DateTime<Utc>)> = got.iter().map(|(_, p, t)| (*p, *t)).collect();
    expected.sort();
    received.sort();
    assert!(received == expected, "the reading client got every event once");

    // The stalled client, once it reads, finds it was disconnected.
    let mut stalled = stalled;
    let mut told = false;
    while let Some(frame) = stalled.frame().await {
        told |= frame.comments.iter().any(|c| c.contains("too slow"));
    }
    assert!(told, "the slow client is told why its stream ended");
    let slow = api.metric("icu_stream_resyncs_total{reason=\"slow\"}").await.unwrap();
    assert!(slow >= 1.0, "counted: {slow}");
    api.stop().await;
}

#[tokio::test]
async fn the_patient_filter_sends_only_that_patients_events() {
    let db = TestDatabase::fresh().await;
    let api = start(&db, &[]).await;
    let mut ward = Ward::new(&db);
    let a = ward.admit("Ada", "01").await;
    let b = ward.admit("Ben", "02").await;
    let mut only_b = Sse::connect(&api, &format!("?patient={b}"), None).await;
    let mut everyone = Sse::connect(&api, "", None).await;
    ward.mixed_readings(&[(a, at(1)), (b, at(1)), (a, at(2)), (b, at(2)), (a, at(3))]).await;
    let got: Vec<(Uuid, DateTime<Utc>)> = only_b.readings(2).await.into_iter().map(|(_, p, t)| (p, t)).collect();
    assert_eq!(got, vec![(b, at(1)), (b, at(2))]);
    assert_eq!(everyone.readings(5).await.len(), 5);
    ward.mixed_readings(&[(a, at(4)), (b, at(4))]).await;
    assert_eq!(only_b.readings(1).await[0].1, b, "nothing of Ada's came between");

    let bad = problem(api.get("/api/v1/stream?patient=nope").await, 400).await;
    assert_eq!(bad["parameter"], "patient");
    problem(api.get(&format!("/api/v1/stream?patient={}", Uuid::new_v4())).await, 404).await;
    api.stop().await;
}

#[tokio::test]
async fn stopping_the_service_ends_open_streams() {
    let db = TestDatabase::fresh().await;
    let api = start(&db, &["--stream-heartbeat", "0.2"]).await;
    let mut client = Sse::connect(&api, "", None).await;
    let heartbeat = client.frame().await.unwrap();
    assert_eq!(heartbeat.comments, vec![" heartbeat".to_owned()]);
    assert_eq!(api.metric("icu_stream_clients").await, Some(1.0));
    // Graceful shutdown would wait forever for a stream that never ends.
    tokio::time::timeout(Duration::from_secs(20), api.stop()).await.expect("the service stops with a client connected");
}
