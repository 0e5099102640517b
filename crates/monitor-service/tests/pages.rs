//! The ward's pages and their assets are served from the binary, with what
//! their scripts need to know filled in, and nothing fetched from elsewhere.
//! (The pages' behaviour in a real browser: scripts/stages/60-browser.sh.)

mod common;

use common::*;
use testkit::TestDatabase;

#[tokio::test]
async fn the_pages_and_every_asset_they_name_are_served_from_the_binary() {
    let db = TestDatabase::fresh().await;
    let api = Running::start(&db, &["--metrics-interval", "2", "--api-prefix", "/ward-api"]).await;
    let patient = uuid::Uuid::new_v4();
    for path in ["/".to_owned(), format!("/patients/{patient}")] {
        let response = api.get(&path).await;
        assert_eq!(response.status(), 200, "{path}");
        assert_eq!(response.headers()["content-type"], "text/html; charset=utf-8");
        let html = response.text().await.unwrap();
        assert!(html.contains(r#"<meta name="icu-api-prefix" content="/ward-api">"#), "{html}");
        assert!(html.contains(r#"<meta name="icu-stale-after-ms" content="6000">"#), "three intervals");
        assert!(!html.contains("http://") && !html.contains("https://"), "nothing from elsewhere");
        for asset in html.split("\"/assets/").skip(1).map(|rest| &rest[..rest.find('"').unwrap()]) {
            let response = api.get(&format!("/assets/{asset}")).await;
            assert_eq!(response.status(), 200, "{asset}");
            let kind = response.headers()["content-type"].to_str().unwrap().to_owned();
            assert!(
                kind.starts_with(if asset.ends_with(".js") { "text/javascript" } else { "text/css" }),
                "{asset}: {kind}"
            );
            let body = response.text().await.unwrap();
            assert!(!body.contains("//cdn") && !body.contains("googleapis"), "{asset} fetches nothing from elsewhere");
            // A script may load another one itself (the chart library, by the patient view).
            for named in body.split("'/assets/").skip(1).map(|rest| &rest[..rest.find('\'').unwrap()]) {
                assert_eq!(api.get(&format!("/assets/{named}")).await.status(), 200, "{named}, named in {asset}");
            }
        }
    }
    let bands = api.json("/assets/news2-bands.json").await;
    assert_eq!(bands["spo2"][0]["score"], 3);
    problem(api.get("/patients/bed-7").await, 400).await;
    problem(api.get("/assets/secrets.txt").await, 404).await;
    api.stop().await;
}

/// With access control on, the pages themselves stay public (they carry no
/// patient data) and tell their script how to log in: the mode, the issuer,
/// the public client id and the scopes, from the service's configuration.
#[tokio::test]
async fn with_access_control_the_pages_say_where_to_log_in_and_the_data_stays_closed() {
    let db = TestDatabase::fresh().await;
    let issuer = common::issuer::Issuer::start(&[&common::issuer::SigningKey::rsa("k1")]).await;
    let api = Running::start_with_auth(
        &db,
        &issuer,
        &["--auth-client-id", "icu-ward", "--auth-scopes", "openid profile email"],
    )
    .await;
    let patient = uuid::Uuid::new_v4();
    for path in ["/".to_owned(), format!("/patients/{patient}")] {
        let response = api.get(&path).await;
        assert_eq!(response.status(), 200, "{path}: the page itself needs no token");
        let html = response.text().await.unwrap();
        for expected in [
            r#"<meta name="icu-auth-mode" content="jwt">"#.to_owned(),
            format!(r#"<meta name="icu-auth-issuer" content="{}">"#, common::issuer::ISSUER),
            r#"<meta name="icu-auth-client-id" content="icu-ward">"#.to_owned(),
            r#"<meta name="icu-auth-scopes" content="openid profile email">"#.to_owned(),
        ] {
            assert!(html.contains(&expected), "{path}: {expected} in {html}");
        }
        assert!(html.contains(r#"<script src="/assets/auth.js">"#), "{path}: the login script");
    }
    let response = api.get("/assets/auth.js").await;
    assert_eq!(response.status(), 200);
    let script = response.text().await.unwrap();
    assert!(script.contains("code_challenge_method: 'S256'"), "PKCE with S256");
    assert!(!script.contains("localStorage"), "no token in storage that outlives the page");
    let refused = problem(api.get("/api/v1/patients").await, 401).await;
    assert_eq!(refused["status"], 401, "{refused}");
    problem(api.get(&format!("/api/v1/stream?patient={patient}")).await, 401).await;
    api.stop().await;
}

#[tokio::test]
async fn without_access_control_the_pages_say_so() {
    let db = TestDatabase::fresh().await;
    let api = Running::start(&db, &[]).await;
    let html = api.get("/").await.text().await.unwrap();
    assert!(html.contains(r#"<meta name="icu-auth-mode" content="none">"#), "{html}");
    assert!(html.contains(r#"<meta name="icu-auth-issuer" content="">"#), "{html}");
    api.stop().await;
}
