//! A minimal Server-Sent Events client over reqwest: the frames are what
//! the stream tests check.

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::Value;
use uuid::Uuid;

use super::{Running, assert_valid};

/// One frame of the stream.
#[derive(Debug, Clone, Default)]
pub struct Frame {
    pub id: Option<String>,
    pub event: Option<String>,
    pub data: String,
    pub comments: Vec<String>,
}

/// A minimal SSE client over reqwest (the frames are what the test checks).
pub struct Sse {
    response: reqwest::Response,
    buffer: String,
}

impl Sse {
    pub async fn connect(api: &Running, query: &str, last_event_id: Option<&str>) -> Sse {
        Sse::open(&api.url(&format!("/api/v1/stream{query}")), last_event_id).await
    }

    /// Connects again to the service at `base`, as a browser reconnects.
    pub async fn reconnect(base: &str, last_event_id: Option<&str>) -> Sse {
        Sse::open(&format!("{base}/api/v1/stream"), last_event_id).await
    }

    pub async fn open(url: &str, last_event_id: Option<&str>) -> Sse {
        Sse::open_as(url, last_event_id, None).await
    }

    /// Connects with `Authorization: Bearer <token>`.
    pub async fn connect_as(api: &Running, query: &str, token: &str) -> Sse {
        Sse::open_as(&api.url(&format!("/api/v1/stream{query}")), None, Some(token)).await
    }

    async fn open_as(url: &str, last_event_id: Option<&str>, token: Option<&str>) -> Sse {
        let mut request = reqwest::Client::new().get(url);
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if let Some(id) = last_event_id {
            request = request.header("Last-Event-ID", id);
        }
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), 200);
        assert_eq!(response.headers()["content-type"], "text/event-stream");
        let mut sse = Sse { response, buffer: String::new() };
        // The first frame says the client is subscribed.
        let hello = sse.frame().await.expect("the stream's first frame");
        assert!(hello.comments.iter().any(|c| c.starts_with(" stream ")), "{hello:?}");
        sse
    }

    /// The next frame; `None` when the stream ended.
    pub async fn frame(&mut self) -> Option<Frame> {
        loop {
            if let Some(end) = self.buffer.find("\n\n") {
                let text: String = self.buffer.drain(..end + 2).collect();
                let mut frame = Frame::default();
                for line in text.lines() {
                    if let Some(comment) = line.strip_prefix(':') {
                        frame.comments.push(comment.to_owned());
                    } else if let Some((field, value)) = line.split_once(": ") {
                        match field {
                            "id" => frame.id = Some(value.to_owned()),
                            "event" => frame.event = Some(value.to_owned()),
                            "data" => frame.data.push_str(value),
                            _ => {}
                        }
                    }
                }
                return Some(frame);
            }
            let chunk = tokio::time::timeout(Duration::from_secs(30), self.response.chunk())
                .await
                .expect("no frame within 30 s")
                .unwrap()?;
            self.buffer.push_str(std::str::from_utf8(&chunk).unwrap());
        }
    }

    /// The next event (comments and heartbeats passed over).
    pub async fn event(&mut self) -> Frame {
        loop {
            let frame = self.frame().await.expect("the stream ended");
            if frame.event.is_some() {
                return frame;
            }
        }
    }

    /// The next `n` reading events, checked against the contract; admissions
    /// and alerts are passed over.
    pub async fn readings(&mut self, n: usize) -> Vec<(String, Uuid, DateTime<Utc>)> {
        let mut out = Vec::with_capacity(n);
        while out.len() < n {
            let frame = self.event().await;
            let data: Value = serde_json::from_str(&frame.data).unwrap();
            match frame.event.as_deref() {
                Some("reading") => {
                    let patient = data["patient"].as_str().unwrap().parse().unwrap();
                    let at = data["reading"]["timestamp"].as_str().unwrap().parse().unwrap();
                    out.push((frame.id.expect("a reading has an id"), patient, at));
                }
                Some("admission") => assert_valid("Admission", &data),
                Some("alert") => assert_valid("AlertChange", &data),
                other => panic!("unexpected event {other:?}: {frame:?}"),
            }
        }
        out
    }
}
