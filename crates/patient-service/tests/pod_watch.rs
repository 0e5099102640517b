//! A patient pod follows its own Pod's `icu-monitor.io/condition`
//! annotation. The Kubernetes API server cannot run here, so it is mocked the
//! way kube-rs projects do (`tower_test::mock::pair` behind
//! `kube::Client::new`): each test plays the API server's side request by
//! request and checks what the watcher asks for.

use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::Utc;
use clap::Parser as _;
use http::{Method, Request, Response, StatusCode};
use kube::client::Body;
use patient_service::pod_watch::{OwnPod, PodWatch};
use patient_service::ward::Ward;
use patient_service::{Config, Mode, Service};
use serde_json::{Value, json};
use testkit::MockBroker;
use tokio::sync::oneshot;
use tower_test::mock::{Handle, SendResponse};
use vitals::{Condition, ConditionMix};

const NAMESPACE: &str = "ward-a";
const POD: &str = "icu-patients-3";

/// The API server's side of a mocked client.
struct ApiServer(Handle<Request<Body>, Response<Body>>);

fn mocked_api() -> (kube::Client, ApiServer) {
    let (service, handle) = tower_test::mock::pair::<Request<Body>, Response<Body>>();
    (kube::Client::new(service, "default"), ApiServer(handle))
}

impl ApiServer {
    /// The client's next request; a missing one fails the test instead of hanging it.
    async fn next(&mut self) -> (Request<Body>, SendResponse<Response<Body>>) {
        tokio::time::timeout(Duration::from_secs(20), self.0.next_request())
            .await
            .expect("the client made no further request")
            .expect("the client went away")
    }

    /// Expects the watcher's initial LIST of this one pod.
    async fn expect_list(&mut self) -> SendResponse<Response<Body>> {
        let (request, send) = self.next().await;
        assert_eq!(request.method(), Method::GET);
        assert_eq!(request.uri().path(), format!("/api/v1/namespaces/{NAMESPACE}/pods"));
        let query = query(&request);
        assert!(query.contains(&format!("fieldSelector=metadata.name%3D{POD}")), "{query:?}");
        assert!(!query.iter().any(|p| p == "watch=true"), "a list, not a watch: {query:?}");
        send
    }

    /// Expects a WATCH of this one pod from `resource_version`.
    async fn expect_watch(&mut self, resource_version: &str) -> SendResponse<Response<Body>> {
        let (request, send) = self.next().await;
        assert_eq!(request.method(), Method::GET);
        assert_eq!(request.uri().path(), format!("/api/v1/namespaces/{NAMESPACE}/pods"));
        let query = query(&request);
        for expected in [
            "watch=true".to_owned(),
            format!("fieldSelector=metadata.name%3D{POD}"),
            format!("resourceVersion={resource_version}"),
        ] {
            assert!(query.contains(&expected), "{expected} missing from {query:?}");
        }
        send
    }
}

fn query(request: &Request<Body>) -> Vec<String> {
    request.uri().query().unwrap_or("").split('&').map(str::to_owned).collect()
}

fn respond(send: SendResponse<Response<Body>>, status: StatusCode, body: Vec<u8>) {
    send.send_response(Response::builder().status(status).body(Body::from(body)).unwrap());
}

fn pod(resource_version: &str, condition: Option<&str>) -> Value {
    let mut annotations = json!({"kubectl.kubernetes.io/default-container": "patient-service"});
    if let Some(c) = condition {
        annotations["icu-monitor.io/condition"] = json!(c);
    }
    json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": POD, "namespace": NAMESPACE, "uid": "0c1f5a1e-6f1c-4bbd-8f55-6f3f3b5a2d01",
                     "resourceVersion": resource_version, "annotations": annotations},
        "spec": {"containers": [{"name": "patient-service", "image": "localhost/icu-monitor:dev"}]},
        "status": {"phase": "Running"}
    })
}

fn pod_list(resource_version: &str, pods: &[Value]) -> Vec<u8> {
    json!({"apiVersion": "v1", "kind": "PodList", "metadata": {"resourceVersion": resource_version}, "items": pods})
        .to_string()
        .into_bytes()
}

/// A watch response: newline-delimited events, then the end of the stream.
fn watch_events(events: &[(&str, Value)]) -> Vec<u8> {
    events
        .iter()
        .map(|(kind, object)| format!("{}\n", json!({"type": kind, "object": object})))
        .collect::<String>()
        .into_bytes()
}

fn status(code: u16, reason: &str) -> Value {
    json!({"apiVersion": "v1", "kind": "Status", "status": "Failure", "message": reason, "reason": reason, "code": code})
}

/// Two beds (6 and 7) whose configured conditions are stable and hypoxia.
fn two_beds() -> Arc<Ward> {
    let mix: ConditionMix = "stable=1,hypoxia=1".parse().unwrap();
    let mode = Mode::Beds { statefulset: "icu-patients".into(), first: 6, count: 2 };
    let ward = Arc::new(Ward::new(&mode, 1, Some(&mix), Utc::now()));
    assert_eq!(conditions(&ward), [Condition::Stable, Condition::Hypoxia]);
    ward
}

fn conditions(ward: &Ward) -> Vec<Condition> {
    (0..ward.len()).map(|i| ward.condition(i)).collect()
}

async fn wait_for_conditions(ward: &Ward, expected: &[Condition]) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while conditions(ward) != expected {
        assert!(Instant::now() < deadline, "conditions {:?}, expected {expected:?}", conditions(ward));
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

fn own_pod() -> OwnPod {
    OwnPod { name: POD.into(), namespace: NAMESPACE.into() }
}

#[tokio::test]
async fn the_annotation_sets_every_beds_condition_and_its_removal_restores_the_configured_ones() {
    let (client, mut api) = mocked_api();
    let ward = two_beds();
    let (stop, stopped) = oneshot::channel::<()>();
    let watch = tokio::spawn(PodWatch::new(client, own_pod(), ward.clone()).run(async {
        let _ = stopped.await;
    }));

    // Annotated before the emulator started: applied from the initial list.
    respond(api.expect_list().await, StatusCode::OK, pod_list("10", &[pod("10", Some("sepsis"))]));
    wait_for_conditions(&ward, &[Condition::Sepsis, Condition::Sepsis]).await;

    // `kubectl annotate pod icu-patients-3 icu-monitor.io/condition-`
    respond(api.expect_watch("10").await, StatusCode::OK, watch_events(&[("MODIFIED", pod("11", None))]));
    wait_for_conditions(&ward, &[Condition::Stable, Condition::Hypoxia]).await;

    // A condition set through the control API survives updates of the pod
    // that leave the annotation alone; a bad value is reported, not applied.
    ward.set_condition(ward.patients()[0].uuid, Condition::Fever).unwrap();
    respond(
        api.expect_watch("11").await,
        StatusCode::OK,
        watch_events(&[("MODIFIED", pod("12", None)), ("MODIFIED", pod("13", Some("zombie")))]),
    );
    let (request, send) = api.next().await;
    assert_eq!(request.method(), Method::POST);
    assert_eq!(request.uri().path(), format!("/apis/events.k8s.io/v1/namespaces/{NAMESPACE}/events"));
    let event: Value = serde_json::from_slice(&request.into_body().collect_bytes().await.unwrap()).unwrap();
    assert_eq!(event["type"], "Warning");
    assert_eq!(event["reason"], "InvalidCondition");
    assert_eq!(event["reportingController"], "patient-service");
    assert_eq!(event["regarding"]["kind"], "Pod");
    assert_eq!(event["regarding"]["name"], POD);
    assert_eq!(event["regarding"]["namespace"], NAMESPACE);
    let note = event["note"].as_str().unwrap();
    assert!(note.contains("\"zombie\"") && note.contains("allowed: stable, tachycardia"), "{note}");
    respond(send, StatusCode::CREATED, serde_json::to_vec(&event).unwrap());
    assert_eq!(conditions(&ward), [Condition::Fever, Condition::Hypoxia]);

    // A valid value again applies; the watch resumes where it left off.
    respond(
        api.expect_watch("13").await,
        StatusCode::OK,
        watch_events(&[("MODIFIED", pod("14", Some(" Tachycardia ")))]),
    );
    wait_for_conditions(&ward, &[Condition::Tachycardia, Condition::Tachycardia]).await;

    let _pending = api.expect_watch("14").await;
    stop.send(()).unwrap();
    tokio::time::timeout(Duration::from_secs(5), watch).await.expect("the watch stops when asked").unwrap();
}

#[tokio::test]
async fn a_failing_api_a_broken_watch_and_a_deleted_pod_are_retried() {
    let (client, mut api) = mocked_api();
    let ward = two_beds();
    let (stop, stopped) = oneshot::channel::<()>();
    let watch = tokio::spawn(PodWatch::new(client, own_pod(), ward.clone()).run(async {
        let _ = stopped.await;
    }));

    // The API server fails the first list: the watcher lists again (after a backoff).
    respond(
        api.expect_list().await,
        StatusCode::INTERNAL_SERVER_ERROR,
        status(500, "InternalError").to_string().into(),
    );
    respond(api.expect_list().await, StatusCode::OK, pod_list("20", &[pod("20", None)]));

    // The watch cannot start: retried from the same resource version.
    respond(
        api.expect_watch("20").await,
        StatusCode::SERVICE_UNAVAILABLE,
        status(503, "ServiceUnavailable").to_string().into(),
    );
    // The pod is deleted and the StatefulSet recreates it, annotated.
    respond(
        api.expect_watch("20").await,
        StatusCode::OK,
        watch_events(&[("DELETED", pod("21", None)), ("ADDED", pod("22", Some("fever")))]),
    );
    wait_for_conditions(&ward, &[Condition::Fever, Condition::Fever]).await;

    // The resource version expired (410 Gone): the watcher lists afresh and
    // applies what it finds.
    respond(api.expect_watch("22").await, StatusCode::OK, watch_events(&[("ERROR", status(410, "Expired"))]));
    respond(api.expect_list().await, StatusCode::OK, pod_list("30", &[pod("30", Some("bradycardia"))]));
    wait_for_conditions(&ward, &[Condition::Bradycardia, Condition::Bradycardia]).await;

    let _pending = api.expect_watch("30").await;
    stop.send(()).unwrap();
    tokio::time::timeout(Duration::from_secs(5), watch).await.expect("the watch stops when asked").unwrap();
}

#[tokio::test]
async fn a_statefulset_pod_admits_the_patients_of_its_beds_and_follows_its_annotation() {
    let broker = MockBroker::start();
    broker.create_topic("icu.vitals", 2);
    broker.create_topic("icu.patients", 1);
    let config = Config::try_parse_from([
        "patient-service",
        "--kafka-bootstrap-servers",
        &broker.bootstrap,
        "--port",
        "0",
        "--metrics-interval",
        "0.2",
        "--seed",
        "9",
        "--pod-name",
        POD,
        "--pod-namespace",
        NAMESPACE,
        "--beds-per-pod",
        "2",
        "--condition-mix",
        "stable=1",
    ])
    .unwrap();
    let (client, mut api) = mocked_api();
    let service = Service::start_with_kube(config, Some(client)).await.unwrap();
    let patients_url = format!("http://{}/api/v1/patients", service.local_addr());
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(service.run_until(async {
        let _ = stopped.await;
    }));

    // Pod 3 with two beds per pod emulates beds 6 and 7, the same patients on every restart.
    let expected: Vec<_> = [6, 7].map(|bed| vitals::identity::bed_identity("icu-patients", bed, 9)).into();
    let listed = || async {
        let body: Value = reqwest::get(&patients_url).await.unwrap().json().await.unwrap();
        body["patients"].as_array().unwrap().clone()
    };
    let patients = listed().await;
    assert_eq!(patients.len(), 2);
    for (p, id) in patients.iter().zip(&expected) {
        assert_eq!(
            (p["uuid"].as_str().unwrap(), p["name"].as_str().unwrap()),
            (id.uuid.to_string().as_str(), id.name.as_str())
        );
        assert_eq!(p["bed"], id.bed);
        assert_eq!(p["condition"], "stable");
    }

    respond(api.expect_list().await, StatusCode::OK, pod_list("5", &[pod("5", Some("sepsis"))]));
    let deadline = Instant::now() + Duration::from_secs(20);
    while !listed().await.iter().all(|p| p["condition"] == "sepsis") {
        assert!(Instant::now() < deadline, "the annotation never reached the emulated patients");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let _pending = api.expect_watch("5").await;

    // The admissions on Kafka carry the derived identities.
    let bootstrap = broker.bootstrap.clone();
    let messages = tokio::task::spawn_blocking(move || {
        testkit::kafka::read_all(&bootstrap, &["icu.patients"], Duration::from_secs(2))
    })
    .await
    .unwrap();
    let mut admitted: Vec<(String, String, String)> = messages
        .iter()
        .map(|m| {
            let a = m.json();
            (a["uuid"].as_str().unwrap().into(), a["name"].as_str().unwrap().into(), a["bed"].as_str().unwrap().into())
        })
        .collect();
    admitted.sort();
    let mut wanted: Vec<_> = expected.iter().map(|id| (id.uuid.to_string(), id.name.clone(), id.bed.clone())).collect();
    wanted.sort();
    assert_eq!(admitted, wanted);

    stop.send(()).unwrap();
    task.await.unwrap().unwrap();
}
