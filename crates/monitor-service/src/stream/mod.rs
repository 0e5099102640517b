//! The live stream (`GET {API_PREFIX}/stream`, Server-Sent Events): every
//! reading the ward stores and every admission, as they commit, and every
//! escalation and de-escalation they make.
//!
//! - [`feed`] turns the database's announcements (the `LISTEN/NOTIFY` the
//!   page cache hears) into events: one query per batch of announcements,
//!   shared by every client, never one per client.
//! - [`hub`] numbers the events, keeps the last `STREAM_REPLAY` of them for
//!   clients that reconnect with `Last-Event-ID`, and fans them out through
//!   one broadcast channel; a client more than `STREAM_CLIENT_BUFFER` events
//!   behind is disconnected (and counted), so it cannot hold the others up.
//! - [`sse`] is the HTTP route: the filter, the resume, heartbeats.

pub mod feed;
pub mod hub;
pub mod sse;

use prometheus_client::encoding::{EncodeLabelSet, EncodeLabelValue};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

pub use feed::Feed;
pub use hub::Hub;

/// What an event says: the `event:` field of its frame.
#[derive(Debug, Clone, Copy, Hash, PartialEq, Eq, EncodeLabelValue)]
#[allow(non_camel_case_types)]
pub enum EventKind {
    reading,
    admission,
    /// A patient's escalation began, changed level or ended.
    alert,
    resync,
}

/// Why clients were told to resync, or gave up on.
#[derive(Debug, Clone, Copy, Hash, PartialEq, Eq, EncodeLabelValue)]
#[allow(non_camel_case_types)]
pub enum Reason {
    /// The client fell more than its buffer behind and was disconnected.
    slow,
    /// `Last-Event-ID` older than the replay ring holds.
    too_far_behind,
    /// `Last-Event-ID` of another replica or an earlier run of this one.
    unknown_stream,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct EventLabel {
    pub event: EventKind,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ReasonLabel {
    pub reason: Reason,
}

#[derive(Debug, Clone, Default)]
pub struct StreamMetrics {
    pub clients: Gauge,
    pub events: Family<EventLabel, Counter>,
    pub resyncs: Family<ReasonLabel, Counter>,
    pub refused: Counter,
    pub resumed: Counter,
    pub queries: Counter,
}

impl StreamMetrics {
    pub fn register(registry: &mut Registry) -> StreamMetrics {
        let m = StreamMetrics::default();
        registry.register("icu_stream_clients", "Clients connected to the live stream", m.clients.clone());
        registry.register("icu_stream_events", "Events published on the live stream, by kind", m.events.clone());
        registry.register(
            "icu_stream_resyncs",
            "Clients disconnected for being slow, or told to resync on connecting, by reason \
             (a gap for everyone is an event: icu_stream_events{event=\"resync\"})",
            m.resyncs.clone(),
        );
        registry.register(
            "icu_stream_refused",
            "Stream connections refused: STREAM_MAX_CLIENTS reached",
            m.refused.clone(),
        );
        registry.register(
            "icu_stream_resumed",
            "Clients that resumed from Last-Event-ID without loss",
            m.resumed.clone(),
        );
        registry.register(
            "icu_stream_queries",
            "Queries the stream's feed made (one per batch of announcements, for all clients)",
            m.queries.clone(),
        );
        m
    }
}
