//! `API_PREFIX`, the path every service's API routes start with, checked
//! once for all of them. axum reads `{…}` in a route as a parameter, `{*…}`
//! as a wildcard, and panics on a segment starting with `:` or `*`, so a
//! prefix is only accepted when it can be nothing but literal text.

/// Characters a prefix segment may hold: RFC 3986's unreserved set, which
/// needs no percent-encoding and means nothing to axum's router.
fn is_plain(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_' | '~')
}

/// Parses `API_PREFIX`: empty (or `/`) for none, else `/segment/segment`
/// with a trailing `/` dropped. The error is one line naming the fault.
pub fn parse_api_prefix(text: &str) -> Result<String, String> {
    const EXAMPLE: &str = "a prefix is plain path segments, like /api/v1";
    let prefix = text.trim_end_matches('/');
    if prefix.is_empty() {
        return Ok(String::new());
    }
    let Some(segments) = prefix.strip_prefix('/') else {
        return Err(format!("{text:?} must start with `/` ({EXAMPLE})"));
    };
    for segment in segments.split('/') {
        if segment.is_empty() || segment == "." || segment == ".." {
            return Err(format!("{text:?} has an empty, `.` or `..` segment ({EXAMPLE})"));
        }
        if let Some(c) = segment.chars().find(|&c| !is_plain(c)) {
            return Err(format!(
                "{text:?}: segment {segment:?} holds {c:?}; only letters, digits and - . _ ~ are allowed ({EXAMPLE})"
            ));
        }
    }
    Ok(prefix.to_owned())
}

#[cfg(test)]
mod tests {
    use axum::Router;
    use axum::body::Body;
    use axum::http::{Request, StatusCode};
    use axum::routing::get;
    use tower::ServiceExt as _;

    use super::*;

    #[test]
    fn plain_prefixes_are_kept_without_a_trailing_slash() {
        for (given, kept) in
            [("", ""), ("/", ""), ("/api/v1", "/api/v1"), ("/ward/", "/ward"), ("/a-b.c_d~e/V2", "/a-b.c_d~e/V2")]
        {
            assert_eq!(parse_api_prefix(given).as_deref(), Ok(kept), "{given:?}");
        }
    }

    #[test]
    fn what_axum_would_read_as_a_parameter_or_wildcard_is_refused() {
        for bad in [
            "/:v1", "/{x}", "/api/{v}", "/*rest", "/{*rest}", "/api/*", "api", "/api//v1", "/a/../b", "/a b", "/a?b",
            "/a#b", "/%7Bx%7D", "/ä",
        ] {
            let error = parse_api_prefix(bad).expect_err(bad);
            assert!(!error.contains('\n'), "one line: {error}");
            assert!(error.contains(&format!("{bad:?}")), "names the value: {error}");
        }
    }

    /// Every prefix the parser accepts is a literal route to axum: it builds
    /// without a panic and answers only at exactly that path.
    #[tokio::test]
    async fn an_accepted_prefix_is_a_literal_route() {
        for given in ["/api/v1", "/x~y/-._", "/v1.2"] {
            let prefix = parse_api_prefix(given).unwrap();
            let app = Router::new().route(&format!("{prefix}/patients"), get(|| async { "ok" }));
            let status = |path: String| {
                let app = app.clone();
                async move { app.oneshot(Request::get(path).body(Body::empty()).unwrap()).await.unwrap().status() }
            };
            assert_eq!(status(format!("{prefix}/patients")).await, StatusCode::OK, "{prefix}");
            assert_eq!(status("/other/patients".into()).await, StatusCode::NOT_FOUND, "{prefix}");
        }
    }
}
