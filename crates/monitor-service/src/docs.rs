//! Swagger UI at `/docs` over the served contract `/openapi.json`, from
//! Swagger UI's release files bundled at build time (`build.rs`): no CDN,
//! works offline, nothing read from disk at run time.

use axum::Router;
use axum::body::Bytes;
use axum::extract::Path;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;

macro_rules! swagger_file {
    ($name:literal) => {
        include_bytes!(concat!(env!("OUT_DIR"), "/swagger-ui/", $name))
    };
}

/// (name, content type, bytes) of each file under `/docs/`.
const FILES: [(&str, &str, &[u8]); 7] = [
    ("index.html", "text/html; charset=utf-8", swagger_file!("index.html")),
    ("index.css", "text/css; charset=utf-8", swagger_file!("index.css")),
    ("swagger-ui.css", "text/css; charset=utf-8", swagger_file!("swagger-ui.css")),
    ("swagger-ui-bundle.js", "text/javascript; charset=utf-8", swagger_file!("swagger-ui-bundle.js")),
    ("favicon-16x16.png", "image/png", swagger_file!("favicon-16x16.png")),
    ("favicon-32x32.png", "image/png", swagger_file!("favicon-32x32.png")),
    ("LICENSE", "text/plain; charset=utf-8", swagger_file!("LICENSE")),
];

/// The plain layout (upstream's standalone preset adds a URL bar; this page
/// shows one contract), pointed at `/openapi.json`.
const INITIALIZER: &str = r##"window.onload = function () {
  window.ui = SwaggerUIBundle({
    url: "/openapi.json",
    dom_id: "#swagger-ui",
    deepLinking: true,
    presets: [SwaggerUIBundle.presets.apis],
    plugins: [SwaggerUIBundle.plugins.DownloadUrl],
  });
};
"##;

/// `/openapi.json` (the contract as JSON) and Swagger UI under `/docs/`.
pub fn router<S: Clone + Send + Sync + 'static>(spec: serde_json::Value) -> Router<S> {
    // Serializing a `Value` cannot fail; encoded once, served as is.
    let spec = Bytes::from(serde_json::to_vec(&spec).unwrap_or_default());
    Router::new()
        .route(
            "/openapi.json",
            get(move || async move { ([(header::CONTENT_TYPE, "application/json")], spec.clone()) }),
        )
        .route("/docs", get(|| async { Redirect::to("/docs/") }))
        .route("/docs/", get(|| async { file("index.html") }))
        .route("/docs/{name}", get(|Path(name): Path<String>| async move { file(&name) }))
}

fn file(name: &str) -> Response {
    if name == "swagger-initializer.js" {
        return ([(header::CONTENT_TYPE, "text/javascript; charset=utf-8")], INITIALIZER).into_response();
    }
    match FILES.iter().find(|(file, _, _)| *file == name) {
        Some((_, content_type, bytes)) => ([(header::CONTENT_TYPE, *content_type)], *bytes).into_response(),
        None => StatusCode::NOT_FOUND.into_response(),
    }
}
