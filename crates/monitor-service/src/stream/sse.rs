//! `GET {API_PREFIX}/stream`: Server-Sent Events for one client. Reads the
//! request (filter, resume point), then writes the replay and the live
//! events, with a heartbeat comment so that proxies keep the connection.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use tokio::sync::broadcast::error::RecvError;
use tokio::sync::watch;
use tokio::time::{Interval, MissedTickBehavior};
use uuid::Uuid;

use super::hub::{Event, Hub, LastEventId};
use super::{Reason, ReasonLabel};
use crate::api::Shared;
use crate::auth::Caller;
use crate::error::ApiError;

/// How long a browser waits before reconnecting (the SSE `retry:` field).
const RECONNECT_MS: u32 = 1000;

#[derive(Debug, Deserialize)]
pub struct StreamQuery {
    patient: Option<String>,
}

/// The stream's limits.
#[derive(Debug, Clone, Copy)]
pub struct StreamLimits {
    pub heartbeat: Duration,
    pub max_clients: usize,
}

/// Connected clients, against `max_clients`.
#[derive(Debug, Default)]
pub struct Clients(AtomicUsize);

/// A client's place, given back when its stream ends.
struct Slot {
    hub: Arc<Hub>,
    clients: Arc<Clients>,
}

impl Slot {
    fn take(hub: &Arc<Hub>, clients: &Arc<Clients>, max: usize) -> Option<Slot> {
        let before = clients.0.fetch_add(1, Ordering::SeqCst);
        if before >= max {
            clients.0.fetch_sub(1, Ordering::SeqCst);
            return None;
        }
        hub.metrics.clients.set((before + 1) as i64);
        Some(Slot { hub: hub.clone(), clients: clients.clone() })
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let now = self.clients.0.fetch_sub(1, Ordering::SeqCst) - 1;
        self.hub.metrics.clients.set(now as i64);
    }
}

pub async fn stream(
    State(state): State<Shared>,
    caller: Caller,
    headers: HeaderMap,
    query: Result<Query<StreamQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    let Query(query) = query.map_err(|e| ApiError::Rejected { status: e.status(), detail: e.body_text() })?;
    let patient = match query.patient.as_deref() {
        None => None,
        Some(given) => Some(
            Uuid::try_parse(given)
                .map_err(|_| ApiError::invalid("patient", format!("{given:?} is not a patient UUID")))?,
        ),
    };
    // A patient's stream carries only their own events, asked for or not;
    // asking for another patient's is a 403 like any other of their routes.
    let patient = match patient {
        Some(patient) => {
            caller.open(patient)?;
            Some(patient)
        }
        None => caller.scope(),
    };
    let last = last_event_id(&headers)?;
    if let Some(patient) = patient {
        store::ward::patient(&state.pool, patient).await?.ok_or(ApiError::UnknownPatient(patient))?;
    }
    let hub = &state.hub;
    let Some(slot) = Slot::take(hub, &state.stream_clients, state.stream.max_clients) else {
        hub.metrics.refused.inc();
        return Err(ApiError::Rejected {
            status: StatusCode::SERVICE_UNAVAILABLE,
            detail: format!("this replica serves {} stream clients already; try another", state.stream.max_clients),
        });
    };
    let subscription = hub.subscribe(last.as_ref());
    let mut start = format!("retry: {RECONNECT_MS}\n: stream {}\n\n", hub.stream_name()).into_bytes();
    if let Some(resync) = subscription.resync {
        start.extend_from_slice(&resync);
    }
    let mut heartbeat =
        tokio::time::interval_at(tokio::time::Instant::now() + state.stream.heartbeat, state.stream.heartbeat);
    heartbeat.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let client = Client {
        start: Some(Bytes::from(start)),
        replay: subscription.replay.into(),
        live: subscription.live,
        closed: subscription.closed,
        patient,
        heartbeat,
        slot,
        ended: false,
    };
    let body = Body::from_stream(futures::stream::unfold(client, Client::next));
    Ok((
        [
            (header::CONTENT_TYPE, HeaderValue::from_static("text/event-stream")),
            (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
            // nginx and its kin would otherwise buffer the stream.
            (header::HeaderName::from_static("x-accel-buffering"), HeaderValue::from_static("no")),
        ],
        body,
    )
        .into_response())
}

/// The `Last-Event-ID` header: absent or empty is "from now"; anything that
/// is not an id of this stream's form is a clear 400.
fn last_event_id(headers: &HeaderMap) -> Result<Option<LastEventId>, ApiError> {
    let Some(value) = headers.get("last-event-id") else { return Ok(None) };
    let text = value.to_str().unwrap_or("\u{fffd}");
    if text.trim().is_empty() {
        return Ok(None);
    }
    LastEventId::parse(text).map(Some).ok_or_else(|| {
        ApiError::invalid("Last-Event-ID", format!("{text:?} is not an event id of this stream (STREAM-SEQUENCE)"))
    })
}

struct Client {
    start: Option<Bytes>,
    replay: VecDeque<Arc<Event>>,
    live: tokio::sync::broadcast::Receiver<Arc<Event>>,
    closed: watch::Receiver<bool>,
    patient: Option<Uuid>,
    heartbeat: Interval,
    slot: Slot,
    ended: bool,
}

impl Client {
    fn wants(&self, event: &Event) -> bool {
        self.patient.is_none() || event.patient.is_none() || event.patient == self.patient
    }

    async fn next(mut self) -> Option<(Result<Bytes, Infallible>, Client)> {
        if self.ended {
            return None;
        }
        if let Some(start) = self.start.take() {
            return Some((Ok(start), self));
        }
        while let Some(event) = self.replay.pop_front() {
            if self.wants(&event) {
                return Some((Ok(event.frame.clone()), self));
            }
        }
        loop {
            let woke = tokio::select! {
                biased;
                _ = self.closed.wait_for(|closed| *closed) => Woke::Closed,
                received = self.live.recv() => Woke::Live(received),
                _ = self.heartbeat.tick() => Woke::Heartbeat,
            };
            match woke {
                Woke::Live(Ok(event)) if self.wants(&event) => return Some((Ok(event.frame.clone()), self)),
                Woke::Live(Ok(_)) => {}
                Woke::Live(Err(RecvError::Lagged(missed))) => {
                    // Too slow: disconnected, so it cannot hold a buffer of
                    // its own. Reconnecting with Last-Event-ID resumes from
                    // the replay if it still holds what was missed.
                    self.slot.hub.metrics.resyncs.get_or_create(&ReasonLabel { reason: Reason::slow }).inc();
                    self.ended = true;
                    let note = format!(": too slow, {missed} events behind; reconnect with Last-Event-ID\n\n");
                    return Some((Ok(Bytes::from(note)), self));
                }
                Woke::Live(Err(RecvError::Closed)) | Woke::Closed => return None,
                Woke::Heartbeat => return Some((Ok(Bytes::from_static(b": heartbeat\n\n")), self)),
            }
        }
    }
}

enum Woke {
    Closed,
    Live(Result<Arc<Event>, RecvError>),
    Heartbeat,
}
