//! `api/openapi.yaml` is the contract: the routes served and the committed
//! document must be the same set, the document is served as it is
//! committed, and Swagger UI works with no network.

mod common;

use std::collections::BTreeSet;

use common::*;
use testkit::TestDatabase;

fn documented_operations() -> BTreeSet<(String, String)> {
    let spec = spec();
    let mut out = BTreeSet::new();
    for (path, item) in spec["paths"].as_object().unwrap() {
        for method in item.as_object().unwrap().keys() {
            out.insert((method.to_uppercase(), path.clone()));
        }
    }
    out
}

#[test]
fn the_api_routes_are_exactly_the_documented_ward_operations() {
    let served: BTreeSet<(String, String)> =
        monitor_service::api::routes("/api/v1").into_iter().map(|(m, p, _)| (m.to_string(), p)).collect();
    let operational = ["/openapi.json", "/healthz", "/readyz", "/metrics"];
    let documented: BTreeSet<(String, String)> =
        documented_operations().into_iter().filter(|(_, p)| !operational.contains(&p.as_str())).collect();
    assert_eq!(served, documented);
}

#[tokio::test]
async fn every_documented_operation_answers_and_the_document_is_served_as_committed() {
    let db = TestDatabase::fresh().await;
    let mut ward = Ward::new(&db);
    let p = ward.admit("Contract", "07").await;
    ward.readings(p, &seconds_ending(chrono::TimeDelta::zero(), 2)).await;
    let api = Running::start(&db, &[]).await;

    for (method, path) in documented_operations() {
        assert_eq!(method, "GET");
        let path = path.replace("{uuid}", &p.to_string());
        let response = api.get(&path).await;
        assert_eq!(response.status(), 200, "GET {path}");
    }
    let served: serde_json::Value = api.get("/openapi.json").await.json().await.unwrap();
    assert_eq!(served, spec());
    api.stop().await;
}

#[tokio::test]
async fn swagger_ui_is_served_from_bundled_assets() {
    let db = TestDatabase::fresh().await;
    let api = Running::start(&db, &[]).await;
    let page = api.get("/docs/").await;
    assert_eq!(page.status(), 200);
    let html = page.text().await.unwrap();
    assert!(html.contains("swagger-ui"), "{html}");
    assert!(!html.contains("https://"), "no CDN: every asset is local");
    let init = api.get("/docs/swagger-initializer.js").await.text().await.unwrap();
    assert!(init.contains("/openapi.json"), "Swagger UI points at the served contract: {init}");
    for asset in ["/docs/swagger-ui.css", "/docs/swagger-ui-bundle.js"] {
        let response = api.get(asset).await;
        assert_eq!(response.status(), 200, "{asset}");
        assert!(response.bytes().await.unwrap().len() > 10_000, "{asset} is the real asset");
    }
    api.stop().await;
}
