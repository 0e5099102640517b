//! The ward API over a real PostgreSQL filled through the real landing code.

mod common;

use std::collections::HashSet;

use chrono::TimeDelta;
use common::*;
use serde_json::Value;
use testkit::TestDatabase;
use uuid::Uuid;

#[tokio::test]
async fn the_ward_lists_every_patient_with_latest_reading_news2_and_staleness() {
    let db = TestDatabase::fresh().await;
    let mut ward = Ward::new(&db);
    let fresh = ward.admit("Ada Lovelace", "01").await;
    ward.readings(fresh, &seconds_ending(TimeDelta::zero(), 3)).await;
    let silent = ward.admit("Ben Silent", "02").await;
    ward.readings(silent, &seconds_ending(TimeDelta::minutes(10), 2)).await;
    let new = ward.admit("Cleo New", "03").await;
    let api = Running::start(&db, &["--metrics-interval", "5"]).await;

    let body = api.json("/api/v1/patients").await;
    assert_valid("PatientList", &body);
    let patients = body["patients"].as_array().unwrap();
    let by_name: Vec<&str> = patients.iter().map(|p| p["name"].as_str().unwrap()).collect();
    assert_eq!(by_name, ["Ada Lovelace", "Ben Silent", "Cleo New"], "ordered by bed");

    let ada = &patients[0];
    assert_eq!(ada["uuid"], fresh.to_string());
    assert_eq!(ada["stale"], false);
    assert_eq!(ada["latest"]["pulse"], 62, "the newest of three readings");
    assert_eq!(ada["latest"]["bp"], "121/79");
    assert_eq!((ada["latest"]["bp_systolic"].as_i64(), ada["latest"]["bp_diastolic"].as_i64()), (Some(121), Some(79)));
    // rr 18 → 0, spo2 95 → 1, sys 121 → 0, pulse 62 → 0, temp 37.4 → 0: total 1, low.
    assert_eq!(ada["news2"], serde_json::json!({"score": 1, "band": "low", "scored_three": []}));
    assert_eq!(ada["last_seen"], ada["latest"]["timestamp"]);

    assert_eq!(patients[1]["uuid"], silent.to_string());
    assert_eq!(patients[1]["stale"], true, "nothing for 10 minutes at a 5 s interval");
    assert_eq!(patients[2]["uuid"], new.to_string());
    assert_eq!((patients[2]["latest"].clone(), patients[2]["stale"].clone()), (Value::Null, Value::Bool(true)));

    let one = api.json(&format!("/api/v1/patients/{fresh}")).await;
    assert_valid("Patient", &one);
    assert_eq!(&one, ada);
    api.stop().await;
}

#[tokio::test]
async fn readings_page_newest_first_and_the_cursor_survives_new_arrivals() {
    let db = TestDatabase::fresh().await;
    let mut ward = Ward::new(&db);
    let p = ward.admit("Paged", "04").await;
    let history = seconds_ending(TimeDelta::minutes(30), 250);
    ward.readings(p, &history).await;
    let api = Running::start(&db, &[]).await;

    let first = api.json(&format!("/api/v1/patients/{p}/metrics?limit=100")).await;
    assert_valid("ReadingPage", &first);
    let mut seen: Vec<String> = Vec::new();
    let times = |page: &Value| -> Vec<String> {
        page["readings"].as_array().unwrap().iter().map(|r| r["timestamp"].as_str().unwrap().to_owned()).collect()
    };
    seen.extend(times(&first));
    assert_eq!(seen.len(), 100);

    // New readings arrive between pages: they are newer than page one and
    // must neither shift nor repeat the pages that follow.
    ward.readings(p, &seconds_ending(TimeDelta::zero(), 20)).await;
    let mut cursor = first["next_cursor"].as_str().unwrap().to_owned();
    loop {
        let page = api.json(&format!("/api/v1/patients/{p}/metrics?limit=100&cursor={cursor}")).await;
        assert_valid("ReadingPage", &page);
        seen.extend(times(&page));
        match page["next_cursor"].as_str() {
            Some(next) => cursor = next.to_owned(),
            None => break,
        }
    }
    assert_eq!(seen.len(), 250, "every historic reading exactly once");
    assert_eq!(seen.iter().collect::<HashSet<_>>().len(), 250);
    let mut newest_first = seen.clone();
    newest_first.sort_by(|a, b| b.cmp(a));
    assert_eq!(seen, newest_first);
    api.stop().await;
}

#[tokio::test]
async fn ranges_limit_and_the_original_path_agree() {
    let db = TestDatabase::fresh().await;
    let mut ward = Ward::new(&db);
    let p = ward.admit("Ranged", "05").await;
    let times = seconds_ending(TimeDelta::minutes(1), 10);
    ward.readings(p, &times).await;
    let api = Running::start(&db, &[]).await;

    let from = times[2].to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    let to = times[6].to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    let page = api.json(&format!("/api/v1/patients/{p}/metrics?from={from}&to={to}")).await;
    let pulses: Vec<i64> = page["readings"].as_array().unwrap().iter().map(|r| r["pulse"].as_i64().unwrap()).collect();
    assert_eq!(pulses, [65, 64, 63, 62], "from inclusive, to exclusive, newest first");

    api.stop().await;
}

#[tokio::test]
async fn the_original_path_answers_an_array_in_the_original_shape_paged_by_link() {
    let db = TestDatabase::fresh().await;
    let mut ward = Ward::new(&db);
    let p = ward.admit("Original Client", "05").await;
    let times = seconds_ending(TimeDelta::minutes(1), 7);
    ward.readings(p, &times).await;
    let api = Running::start(&db, &[]).await;

    let mut path = format!("/patient/{p}/metrics?limit=3");
    let mut pages = Vec::new();
    loop {
        let response = api.get(&path).await;
        assert_eq!(response.status(), 200, "GET {path}");
        assert_eq!(response.headers()["content-type"], "application/json");
        let next = response.headers().get("link").map(|v| v.to_str().unwrap().to_owned());
        let body: Value = response.json().await.unwrap();
        let readings = body.as_array().unwrap_or_else(|| panic!("an array of readings: {body}")).clone();
        for reading in &readings {
            assert_valid("OriginalReading", reading);
        }
        pages.push(readings);
        let Some(next) = next else { break };
        let target = next.strip_prefix('<').and_then(|rest| rest.strip_suffix(r#">; rel="next""#));
        path = target.unwrap_or_else(|| panic!("a Link to the next page: {next}")).to_owned();
        assert!(path.starts_with(&format!("/patient/{p}/metrics?")), "{path}");
    }
    assert_eq!(pages.iter().map(Vec::len).collect::<Vec<_>>(), [3, 3, 1], "seven readings, three per page");
    let first = &pages[0][0];
    let newest = serde_json::to_value(times[6]).unwrap();
    assert_eq!(
        *first,
        serde_json::json!({"uuid": p, "name": "Original Client", "timestamp": newest, "pulse": 66, "resp_rate": 18,
                           "bp": "121/79", "spo2": 95, "temperature": 37.4}),
        "the seed format's fields, nothing else"
    );
    // The same readings, in the same order, as the ward's own route.
    let ward_page = api.json(&format!("/api/v1/patients/{p}/metrics?limit=10")).await;
    let times_of = |readings: &[Value]| readings.iter().map(|r| r["timestamp"].clone()).collect::<Vec<_>>();
    assert_eq!(times_of(&pages.concat()), times_of(ward_page["readings"].as_array().unwrap()));
    api.stop().await;
}

#[tokio::test]
async fn every_rejection_is_a_problem_naming_its_cause() {
    let db = TestDatabase::fresh().await;
    let mut ward = Ward::new(&db);
    let quiet = ward.admit("No Readings Yet", "06").await;
    let api = Running::start(&db, &[]).await;

    let empty = api.json(&format!("/api/v1/patients/{quiet}/metrics")).await;
    assert_eq!(empty["readings"], serde_json::json!([]), "known patient, no readings: 200 and empty");
    assert_eq!(empty["next_cursor"], Value::Null);

    let body = problem(api.get("/api/v1/patients/not-a-uuid").await, 400).await;
    assert_eq!((body["type"].as_str(), body["parameter"].as_str()), (Some("/problems/invalid-uuid"), Some("uuid")));
    problem(api.get("/patient/12345/metrics").await, 400).await;

    let unknown = Uuid::new_v4();
    let body = problem(api.get(&format!("/api/v1/patients/{unknown}")).await, 404).await;
    assert_eq!(body["patient"], unknown.to_string());
    problem(api.get(&format!("/api/v1/patients/{unknown}/metrics")).await, 404).await;

    for (query, parameter) in [
        ("limit=0", "limit"),
        ("limit=1001", "limit"),
        ("limit=lots", "limit"),
        ("from=yesterday", "from"),
        ("to=2026-02-30T00:00:00Z", "to"),
        ("from=2026-11-24T10:00:00Z&to=2026-11-24T09:00:00Z", "to"),
        ("cursor=not-a-time", "cursor"),
    ] {
        let body = problem(api.get(&format!("/api/v1/patients/{quiet}/metrics?{query}")).await, 400).await;
        assert_eq!(body["parameter"], parameter, "{query}: {body}");
    }
    // Unknown parameters are tolerated, as HTTP clients expect.
    api.json(&format!("/api/v1/patients/{quiet}/metrics?utm_source=ward")).await;

    let body = problem(api.get("/api/v1/nowhere").await, 404).await;
    assert_eq!(body["type"], "/problems/not-found");
    let post = reqwest::Client::new().post(api.url("/api/v1/patients")).send().await.unwrap();
    problem(post, 405).await;
    api.stop().await;
}

#[tokio::test]
async fn cors_allows_only_the_configured_origins() {
    let db = TestDatabase::fresh().await;
    let api = Running::start(&db, &["--cors-origins", "https://ward.example"]).await;
    let client = reqwest::Client::new();
    let ask = |origin: &'static str| client.get(api.url("/api/v1/patients")).header("origin", origin).send();
    let allowed = ask("https://ward.example").await.unwrap();
    assert_eq!(allowed.headers()["access-control-allow-origin"], "https://ward.example");
    let other = ask("https://elsewhere.example").await.unwrap();
    assert!(other.headers().get("access-control-allow-origin").is_none());
    api.stop().await;

    let closed = Running::start(&db, &[]).await;
    let response = client.get(closed.url("/api/v1/patients")).header("origin", "https://ward.example").send().await;
    assert!(response.unwrap().headers().get("access-control-allow-origin").is_none(), "no CORS unless configured");
    closed.stop().await;
}

#[tokio::test]
async fn a_cached_page_gives_way_to_a_new_reading_as_soon_as_it_is_stored() {
    let db = TestDatabase::fresh().await;
    let mut ward = Ward::new(&db);
    let p = ward.admit("Cached", "06").await;
    ward.readings(p, &seconds_ending(TimeDelta::minutes(1), 5)).await;
    // Pages never expire here: only the database's announcement can replace one.
    let api = Running::start(&db, &["--page-cache-max-age", "86400"]).await;
    api.wait_for_metric("icu_page_cache_listening", 1.0).await;

    let path = format!("/api/v1/patients/{p}/metrics?limit=3");
    let first = api.json(&path).await;
    assert_eq!(api.json(&path).await, first);
    assert_eq!(api.metric(r#"icu_page_cache_lookups_total{result="hit"}"#).await, Some(1.0), "the second was cached");

    // A cache that missed the announcement would serve the old page all day.
    let page = api.page_headed_by_a_new_reading(&mut ward, p, &path).await;
    assert_eq!(page["readings"][1], first["readings"][0]);
    let original = api.json(&format!("/patient/{p}/metrics?limit=3")).await;
    let times =
        |readings: &Value| readings.as_array().unwrap().iter().map(|r| r["timestamp"].clone()).collect::<Vec<_>>();
    assert_eq!(times(&original), times(&page["readings"]), "both paths agree");
    api.stop().await;
}

#[tokio::test]
async fn losing_the_announcements_connection_empties_the_cache_and_listening_resumes() {
    let db = TestDatabase::fresh().await;
    let mut ward = Ward::new(&db);
    let p = ward.admit("Reconnected", "07").await;
    ward.readings(p, &seconds_ending(TimeDelta::minutes(1), 5)).await;
    // A pool of one: the listener must not hold it (requests would time out).
    let api = Running::start(&db, &["--page-cache-max-age", "86400", "--db-pool-size", "1"]).await;
    api.wait_for_metric("icu_page_cache_listens_total", 1.0).await;
    let path = format!("/api/v1/patients/{p}/metrics?limit=3");
    let first = api.json(&path).await;
    api.json(&path).await;
    let hit = r#"icu_page_cache_lookups_total{result="hit"}"#;
    assert_eq!(api.metric(hit).await, Some(1.0));

    // The listener's own backend dies (a failover, an idle-connection reaper).
    let terminated: Vec<bool> = sqlx::query_scalar(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
         WHERE datname = current_database() AND query LIKE 'LISTEN%'",
    )
    .fetch_all(&db.pool)
    .await
    .unwrap();
    assert_eq!(terminated, [true], "one listening connection, not one of the pool's");
    api.wait_for_metric("icu_page_cache_listens_total", 2.0).await;
    api.wait_for_metric("icu_page_cache_listening", 1.0).await;

    // Announcements may have been missed meanwhile: the cache started over.
    assert_eq!(api.json(&path).await, first);
    assert_eq!(api.metric(hit).await, Some(1.0), "served from the database, not the old cache");
    // Announcements are heard again.
    api.page_headed_by_a_new_reading(&mut ward, p, &path).await;
    api.stop().await;
}

/// Resumes a stopped process however the test ends.
struct Stopped(i32);

impl Drop for Stopped {
    fn drop(&mut self) {
        let _ = std::process::Command::new("kill").args(["-CONT", &self.0.to_string()]).status();
    }
}

#[tokio::test]
async fn a_listening_connection_that_falls_silent_is_replaced() {
    let db = TestDatabase::fresh().await;
    let mut ward = Ward::new(&db);
    let p = ward.admit("Silent line", "08").await;
    ward.readings(p, &seconds_ending(TimeDelta::minutes(1), 5)).await;
    let api = Running::start(&db, &["--page-cache-max-age", "86400", "--page-cache-heartbeat", "0.2"]).await;
    api.wait_for_metric("icu_page_cache_listens_total", 1.0).await;
    let path = format!("/api/v1/patients/{p}/metrics?limit=3");
    api.json(&path).await;

    // The listener's backend stops answering but its connection stays open,
    // as across a network partition: no error, just silence.
    let pid: i32 = sqlx::query_scalar(
        "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND query LIKE 'LISTEN%'",
    )
    .fetch_one(&db.pool)
    .await
    .unwrap();
    let status = std::process::Command::new("kill").args(["-STOP", &pid.to_string()]).status().unwrap();
    assert!(status.success());
    let _resume = Stopped(pid);

    // Heard from nothing for three heartbeats: a new connection listens.
    api.wait_for_metric("icu_page_cache_listens_total", 2.0).await;
    // Announcements are heard again.
    api.page_headed_by_a_new_reading(&mut ward, p, &path).await;
    api.stop().await;
}

#[tokio::test]
async fn invented_methods_on_real_paths_add_no_metric_series() {
    let db = TestDatabase::fresh().await;
    let api = Running::start(&db, &[]).await;
    let client = reqwest::Client::new();
    for i in 0..20 {
        let invented = reqwest::Method::from_bytes(format!("BREW{i}").as_bytes()).unwrap();
        problem(client.request(invented, api.url("/api/v1/patients")).send().await.unwrap(), 405).await;
        problem(api.get(&format!("/api/v1/nowhere/{i}")).await, 404).await;
    }
    api.json("/api/v1/patients").await;
    let text = api.get("/metrics").await.text().await.unwrap();
    let requests: Vec<&str> = text.lines().filter(|l| l.starts_with("icu_http_requests_total{")).collect();
    assert!(!requests.iter().any(|l| l.contains("BREW") || l.contains("nowhere")), "{requests:#?}");
    let other = r#"icu_http_requests_total{method="other",route="/api/v1/patients",status="405"}"#;
    assert_eq!(api.metric(other).await, Some(20.0), "{requests:#?}");
    let unmatched = r#"icu_http_requests_total{method="GET",route="unmatched",status="404"}"#;
    assert_eq!(api.metric(unmatched).await, Some(20.0), "{requests:#?}");
    let version = env!("CARGO_PKG_VERSION");
    let build = format!(r#"icu_build_info{{service="monitor-service",version="{version}"}}"#);
    assert_eq!(api.metric(&build).await, Some(1.0), "{text}");
    api.stop().await;
}

#[tokio::test]
async fn a_database_that_cannot_answer_in_time_is_a_503_problem() {
    use sqlx::Connection as _;
    let db = TestDatabase::fresh().await;
    let mut ward = Ward::new(&db);
    let patient = ward.admit("Waiting", "07").await;
    // One connection, no cache: a request stuck behind a lock holds the pool.
    let api = Running::start(&db, &["--db-pool-size", "1", "--page-cache-mb", "0"]).await;
    // The alert list's first derivation (a query of its own) is over.
    api.wait_for_metric("icu_alerts_trusted", 1.0).await;
    let mut locker = sqlx::PgConnection::connect(&db.url).await.unwrap();
    sqlx::query("BEGIN").execute(&mut locker).await.unwrap();
    sqlx::query("LOCK TABLE patients IN ACCESS EXCLUSIVE MODE").execute(&mut locker).await.unwrap();
    let stuck = tokio::spawn(reqwest::get(api.url("/api/v1/patients")));
    // The stuck request has the connection once the lock shows a waiter.
    loop {
        let waiting: i64 =
            sqlx::query_scalar("SELECT count(*) FROM pg_locks WHERE NOT granted").fetch_one(&db.pool).await.unwrap();
        if waiting > 0 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let body = problem(api.get(&format!("/api/v1/patients/{patient}")).await, 503).await;
    assert_eq!(body["type"], "/problems/unavailable");
    assert!(!body.to_string().contains("pool"), "internals stay in the log: {body}");
    sqlx::query("COMMIT").execute(&mut locker).await.unwrap();
    assert_eq!(stuck.await.unwrap().unwrap().status(), 200, "the stuck request finishes once the lock goes");
    api.stop().await;
}
