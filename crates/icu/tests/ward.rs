//! `icu ward status` and `icu ward scale` against a mocked Kubernetes API
//! server (`tower_test::mock::pair` behind `kube::Client::new`, as kube-rs
//! projects test) and, for the vitals, the real monitor-service over a
//! freshly migrated PostgreSQL database filled through the real landing code.

use std::time::Duration;

use chrono::{TimeDelta, Utc};
use clap::Parser as _;
use http::{Method, Request, Response, StatusCode};
use icu::ward::{MonitorApi, Target, WardError, render, scale, status};
use kube::client::Body;
use serde_json::{Value, json};
use store::ingest::{Inbound, Topics, land};
use testkit::TestDatabase;
use tokio::sync::oneshot;
use tower_test::mock::{Handle, SendResponse};
use vitals::Condition;
use vitals::identity::bed_identity;

const NAMESPACE: &str = "ward-a";
const SET: &str = "icu-monitor-patients";

/// Pod, phase, bed, condition, ignored annotation, latest pulse.
type BedLine<'a> = (&'a str, &'a str, &'a str, Condition, Option<&'a str>, Option<i16>);

struct ApiServer(Handle<Request<Body>, Response<Body>>);

fn mocked_api(default_namespace: &str) -> (kube::Client, ApiServer) {
    let (service, handle) = tower_test::mock::pair::<Request<Body>, Response<Body>>();
    (kube::Client::new(service, default_namespace), ApiServer(handle))
}

impl ApiServer {
    async fn next(&mut self) -> (Request<Body>, SendResponse<Response<Body>>) {
        tokio::time::timeout(Duration::from_secs(20), self.0.next_request())
            .await
            .expect("the client made no further request")
            .expect("the client went away")
    }
}

fn respond(send: SendResponse<Response<Body>>, status: StatusCode, body: &Value) {
    send.send_response(Response::builder().status(status).body(Body::from(body.to_string().into_bytes())).unwrap());
}

fn target(namespace: Option<&str>) -> Target {
    Target { namespace: namespace.map(Into::into), release: "icu-monitor".into(), statefulset: None }
}

fn statefulset() -> Value {
    json!({
        "apiVersion": "apps/v1", "kind": "StatefulSet",
        "metadata": {"name": SET, "namespace": NAMESPACE},
        "spec": {
            "serviceName": SET,
            "selector": {"matchLabels": {"app.kubernetes.io/instance": "icu-monitor", "app.kubernetes.io/component": "patients"}},
            "template": {"spec": {"containers": [{"name": "patient-service", "env": [
                {"name": "POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
                {"name": "SEED", "value": "9"},
                {"name": "CONDITION_MIX", "value": "stable=1,fever=1"}
            ]}]}}
        }
    })
}

fn pod(ordinal: u32, phase: &str, condition: Option<&str>) -> Value {
    let annotations = condition.map_or(json!({}), |c| json!({"icu-monitor.io/condition": c}));
    json!({"metadata": {"name": format!("{SET}-{ordinal}"), "namespace": NAMESPACE, "annotations": annotations},
           "status": {"phase": phase}})
}

/// Lands an admission and one reading per (bed, pulse) through the data-service's landing code.
async fn land_beds(db: &TestDatabase, beds: &[(u64, i64)]) {
    let at = Utc::now() - TimeDelta::seconds(3);
    let mut payloads = Vec::new();
    for &(bed, pulse) in beds {
        let id = bed_identity(SET, bed, 9);
        payloads.push((
            "icu.patients",
            json!({"v": 1, "uuid": id.uuid, "name": id.name, "bed": id.bed, "admitted_at": at}),
        ));
        payloads.push((
            "icu.vitals",
            json!({"uuid": id.uuid, "timestamp": at, "pulse": pulse, "resp_rate": 24,
                                            "bp": "95/60", "spo2": 93, "temperature": 38.4}),
        ));
    }
    let batch: Vec<Inbound> = payloads
        .into_iter()
        .enumerate()
        .map(|(offset, (topic, payload))| Inbound {
            topic: topic.into(),
            partition: 0,
            offset: offset as i64,
            key: None,
            headers: vec![],
            payload: payload.to_string().into_bytes(),
            received_at: Utc::now(),
        })
        .collect();
    land(&db.pool, &Topics::default(), &batch).await.unwrap();
}

#[tokio::test]
async fn status_lists_every_bed_with_its_patient_condition_and_latest_vitals() {
    let db = TestDatabase::fresh().await;
    land_beds(&db, &[(0, 71), (1, 121)]).await;
    let monitor = monitor_service::Service::start(
        monitor_service::Config::try_parse_from([
            "monitor-service",
            "--database-url",
            &db.url,
            "--port",
            "0",
            "--host",
            "127.0.0.1",
            "--auth-mode",
            "none",
        ])
        .unwrap(),
    )
    .await
    .unwrap();
    let api = MonitorApi { url: format!("http://{}/api/v1/", monitor.local_addr()), token: None };
    let (stop, stopped) = oneshot::channel::<()>();
    let monitor = tokio::spawn(monitor.run_until(async {
        let _ = stopped.await;
    }));

    let (client, mut server) = mocked_api("default");
    let kube = tokio::spawn(async move {
        let (request, send) = server.next().await;
        assert_eq!(request.method(), Method::GET);
        assert_eq!(request.uri().path(), format!("/apis/apps/v1/namespaces/{NAMESPACE}/statefulsets/{SET}"));
        respond(send, StatusCode::OK, &statefulset());

        let (request, send) = server.next().await;
        assert_eq!(request.method(), Method::GET);
        assert_eq!(request.uri().path(), format!("/api/v1/namespaces/{NAMESPACE}/pods"));
        let query = request.uri().query().unwrap_or("");
        assert!(
            query.split('&').any(|p| p
                == "labelSelector=app.kubernetes.io%2Fcomponent%3Dpatients%2Capp.kubernetes.io%2Finstance%3Dicu-monitor"),
            "pods found by the StatefulSet's selector: {query}"
        );
        let pods = [
            pod(10, "Running", None),
            pod(1, "Running", Some("sepsis")),
            pod(0, "Running", None),
            pod(2, "Pending", Some("zombie")),
        ];
        respond(
            send,
            StatusCode::OK,
            &json!({"apiVersion": "v1", "kind": "PodList", "metadata": {"resourceVersion": "7"}, "items": pods}),
        );
    });

    let ward = status(&client, &target(Some(NAMESPACE)), &api).await.unwrap();
    kube.await.unwrap();
    assert_eq!(ward.api_problem, None);
    let beds: Vec<BedLine> = ward
        .beds
        .iter()
        .map(|b| {
            (
                b.pod.as_str(),
                b.phase.as_str(),
                b.bed.as_str(),
                b.condition,
                b.bad_annotation.as_deref(),
                b.latest.as_ref().map(|l| l.pulse),
            )
        })
        .collect();
    assert_eq!(
        beds,
        [
            ("icu-monitor-patients-0", "Running", "00", Condition::Stable, None, Some(71)),
            ("icu-monitor-patients-1", "Running", "01", Condition::Sepsis, None, Some(121)),
            ("icu-monitor-patients-2", "Pending", "02", Condition::Stable, Some("zombie"), None),
            ("icu-monitor-patients-10", "Running", "10", Condition::Stable, None, None),
        ],
        "ordered by ordinal; the annotation wins over the mix (bed 1 would be fever)"
    );
    for b in &ward.beds {
        let ordinal: u64 = b.bed.parse().unwrap();
        let id = bed_identity(SET, ordinal, 9);
        assert_eq!((b.uuid, b.patient.as_str()), (id.uuid, id.name.as_str()));
    }
    let latest = ward.beds[1].latest.as_ref().unwrap();
    assert_eq!((latest.resp_rate, latest.bp.as_str(), latest.spo2), (24, "95/60", 93));
    assert!(latest.news2.score >= 7, "a septic-looking reading scores high: {latest:?}");

    let table = render(&ward.beds, Utc::now());
    let lines: Vec<&str> = table.lines().collect();
    assert_eq!(lines.len(), 5, "{table}");
    assert!(lines[0].starts_with("POD") && lines[0].contains("NEWS2"), "{table}");
    let bed1 = lines[2];
    for needle in [
        "icu-monitor-patients-1",
        "Running",
        &ward.beds[1].patient,
        "sepsis",
        "121",
        "95/60",
        "38.4",
        &format!("{} {}", latest.news2.score, latest.news2.band),
    ] {
        assert!(bed1.contains(needle), "{needle} missing: {bed1}");
    }
    assert!(lines[3].contains("annotation \"zombie\" ignored"), "{table}");

    stop.send(()).unwrap();
    monitor.await.unwrap().unwrap();

    // Without the API the beds are still listed, and the reason is given.
    let (client, mut server) = mocked_api(NAMESPACE);
    let kube = tokio::spawn(async move {
        let (_, send) = server.next().await;
        respond(send, StatusCode::OK, &statefulset());
        let (_, send) = server.next().await;
        respond(
            send,
            StatusCode::OK,
            &json!({"apiVersion": "v1", "kind": "PodList", "metadata": {}, "items": [pod(0, "Running", None)]}),
        );
    });
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
    let offline = MonitorApi { url: format!("http://{closed}/api/v1"), token: None };
    let ward = status(&client, &target(None), &offline).await.unwrap();
    kube.await.unwrap();
    assert_eq!(ward.beds.len(), 1);
    assert_eq!(ward.beds[0].latest, None);
    assert!(ward.api_problem.as_deref().is_some_and(|p| p.contains(&closed.to_string())), "{:?}", ward.api_problem);
}

#[tokio::test]
async fn scale_patches_the_statefulsets_scale_subresource() {
    let (client, mut server) = mocked_api(NAMESPACE);
    let kube = tokio::spawn(async move {
        let (request, send) = server.next().await;
        assert_eq!(request.method(), Method::PATCH);
        assert_eq!(request.uri().path(), format!("/apis/apps/v1/namespaces/{NAMESPACE}/statefulsets/{SET}/scale"));
        assert_eq!(request.headers()["content-type"], "application/merge-patch+json");
        let body: Value = serde_json::from_slice(&request.into_body().collect_bytes().await.unwrap()).unwrap();
        assert_eq!(body, json!({"spec": {"replicas": 200}}));
        respond(
            send,
            StatusCode::OK,
            &json!({"apiVersion": "autoscaling/v1", "kind": "Scale", "metadata": {"name": SET, "namespace": NAMESPACE},
                    "spec": {"replicas": 200}, "status": {"replicas": 3}}),
        );

        let (request, send) = server.next().await;
        assert_eq!(request.uri().path(), "/apis/apps/v1/namespaces/elsewhere/statefulsets/icu-monitor-patients/scale");
        respond(
            send,
            StatusCode::NOT_FOUND,
            &json!({"apiVersion": "v1", "kind": "Status", "status": "Failure", "reason": "NotFound", "code": 404,
                    "message": "statefulsets.apps \"icu-monitor-patients\" not found"}),
        );
    });
    // The namespace defaults to the kubeconfig context's.
    assert_eq!(scale(&client, &target(None), 200).await.unwrap(), 200);
    let err = scale(&client, &target(Some("elsewhere")), 2).await.unwrap_err();
    assert!(matches!(err, WardError::NoStatefulSet { .. }), "{err:?}");
    assert!(err.to_string().contains("no StatefulSet \"icu-monitor-patients\" in namespace \"elsewhere\""), "{err}");
    kube.await.unwrap();
}

#[test]
fn ward_commands_parse_with_the_usual_flags() {
    let cli = icu::Cli::try_parse_from(["icu", "ward", "scale", "-n", "ward-a", "--release", "night", "12"]).unwrap();
    let icu::Command::Ward(args) = cli.command else { panic!("a ward command") };
    let icu::ward::WardCommand::Scale(scale) = args.command else { panic!("scale") };
    assert_eq!(
        (scale.replicas, scale.target.statefulset(), scale.target.namespace.as_deref()),
        (12, "night-patients".into(), Some("ward-a"))
    );
    assert!(icu::Cli::try_parse_from(["icu", "ward", "scale", "--", "-1"]).is_err());
    let cli = icu::Cli::try_parse_from(["icu", "ward", "status", "--statefulset", "beds"]).unwrap();
    let icu::Command::Ward(args) = cli.command else { panic!("a ward command") };
    let icu::ward::WardCommand::Status(status) = args.command else { panic!("status") };
    assert_eq!(status.target.statefulset(), "beds");
    assert_eq!(status.api_url, "http://localhost:8002/api/v1");
}
