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
        }
    }
    let bands = api.json("/assets/news2-bands.json").await;
    assert_eq!(bands["spo2"][0]["score"], 3);
    problem(api.get("/patients/bed-7").await, 400).await;
    problem(api.get("/assets/secrets.txt").await, 404).await;
    api.stop().await;
}
