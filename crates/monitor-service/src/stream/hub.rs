//! Numbers events, keeps the last few for resuming clients, and fans them
//! out. An event is encoded once, as its finished SSE frame, and shared by
//! every client (`Bytes`), so a thousand clients cost a thousand pointers per
//! event, not a thousand encodings.

use std::collections::VecDeque;
use std::sync::{Mutex, MutexGuard};

use axum::body::Bytes;
use tokio::sync::{broadcast, watch};
use uuid::Uuid;

use super::{EventKind, EventLabel, Reason, ReasonLabel, StreamMetrics};

/// One published event, its frame ready to write.
#[derive(Debug)]
pub struct Event {
    pub seq: u64,
    /// The patient it concerns; `None` for everyone (a resync).
    pub patient: Option<Uuid>,
    pub frame: Bytes,
}

/// An event before it is numbered: kind, patient, JSON data.
#[derive(Debug)]
pub struct Draft {
    pub kind: EventKind,
    pub patient: Option<Uuid>,
    pub data: String,
}

/// Where a client asks to start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LastEventId {
    pub stream: String,
    pub seq: u64,
}

impl LastEventId {
    /// Reads `<stream>-<seq>`; `None` when it is not of that form.
    pub fn parse(text: &str) -> Option<LastEventId> {
        let (stream, seq) = text.trim().rsplit_once('-')?;
        let valid = !stream.is_empty() && stream.bytes().all(|b| b.is_ascii_alphanumeric());
        valid.then_some(())?;
        Some(LastEventId { stream: stream.to_owned(), seq: seq.parse().ok()? })
    }
}

/// What a new client gets: events to replay first (or a resync), then live ones.
pub struct Subscription {
    pub resync: Option<Bytes>,
    pub replay: Vec<std::sync::Arc<Event>>,
    pub live: broadcast::Receiver<std::sync::Arc<Event>>,
    pub closed: watch::Receiver<bool>,
}

struct Ring {
    events: VecDeque<std::sync::Arc<Event>>,
    next_seq: u64,
}

pub struct Hub {
    /// This run's name in event ids: an id of another replica or of an
    /// earlier run cannot be resumed from (sequence numbers start over).
    stream: String,
    ring: Mutex<Ring>,
    replay: usize,
    live: broadcast::Sender<std::sync::Arc<Event>>,
    closed: watch::Sender<bool>,
    pub metrics: StreamMetrics,
}

impl Hub {
    /// `replay`: events kept for `Last-Event-ID`; `client_buffer`: how far
    /// (in events) a client may fall behind before it is disconnected.
    pub fn new(replay: usize, client_buffer: usize, metrics: StreamMetrics) -> Hub {
        let started = chrono::Utc::now().timestamp_micros();
        let (live, _) = broadcast::channel(client_buffer.max(1));
        Hub {
            stream: format!("{started:x}"),
            ring: Mutex::new(Ring { events: VecDeque::with_capacity(replay.min(65_536)), next_seq: 1 }),
            replay,
            live,
            closed: watch::channel(false).0,
            metrics,
        }
    }

    pub fn stream_name(&self) -> &str {
        &self.stream
    }

    fn lock(&self) -> MutexGuard<'_, Ring> {
        // Every statement under the lock leaves the ring consistent.
        self.ring.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Numbers, keeps and sends events, in order. Never waits for a client.
    pub fn publish(&self, drafts: impl IntoIterator<Item = Draft>) {
        let mut ring = self.lock();
        for draft in drafts {
            let seq = ring.next_seq;
            ring.next_seq += 1;
            let frame = format!("id: {}-{seq}\nevent: {:?}\ndata: {}\n\n", self.stream, draft.kind, draft.data);
            let event = std::sync::Arc::new(Event { seq, patient: draft.patient, frame: Bytes::from(frame) });
            if self.replay > 0 {
                if ring.events.len() == self.replay {
                    ring.events.pop_front();
                }
                ring.events.push_back(event.clone());
            }
            self.metrics.events.get_or_create(&EventLabel { event: draft.kind }).inc();
            // No receiver is no error: nobody is watching.
            let _ = self.live.send(event);
        }
    }

    /// Tells every client that it may have missed events.
    pub fn gap(&self, why: &str) {
        self.publish([gap_draft(why)]);
    }

    /// Subscribes from `last` (or from now). Replay and live are taken under
    /// the publishing lock, so nothing falls between them or comes twice.
    pub fn subscribe(&self, last: Option<&LastEventId>) -> Subscription {
        let ring = self.lock();
        let live = self.live.subscribe();
        let closed = self.closed.subscribe();
        let Some(last) = last else {
            return Subscription { resync: None, replay: Vec::new(), live, closed };
        };
        let oldest = ring.events.front().map_or(ring.next_seq, |e| e.seq);
        let refused = if last.stream != self.stream || last.seq >= ring.next_seq {
            Some((Reason::unknown_stream, "this id is of another replica or an earlier run: reload the ward"))
        } else if last.seq + 1 < oldest {
            Some((Reason::too_far_behind, "more events were missed than this replica keeps: reload the ward"))
        } else {
            None
        };
        if let Some((reason, why)) = refused {
            drop(ring);
            self.metrics.resyncs.get_or_create(&ReasonLabel { reason }).inc();
            let frame = format!("event: resync\ndata: {}\n\n", resync_data(&format!("{reason:?}"), why));
            return Subscription { resync: Some(Bytes::from(frame)), replay: Vec::new(), live, closed };
        }
        let skip = (last.seq + 1 - oldest) as usize;
        let replay = ring.events.iter().skip(skip).cloned().collect();
        self.metrics.resumed.inc();
        Subscription { resync: None, replay, live, closed }
    }

    /// Ends every client's stream (the service is stopping; a stream never
    /// ends by itself, which would hold graceful shutdown forever).
    pub fn close(&self) {
        let _ = self.closed.send(true);
    }
}

/// A resync for everyone: events may have been missed before this one.
pub fn gap_draft(why: &str) -> Draft {
    Draft { kind: EventKind::resync, patient: None, data: resync_data("gap", why) }
}

fn resync_data(reason: &str, why: &str) -> String {
    serde_json::json!({"reason": reason, "detail": why}).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn draft(n: u32) -> Draft {
        Draft { kind: EventKind::reading, patient: None, data: format!("{{\"n\":{n}}}") }
    }

    fn hub(replay: usize) -> Hub {
        Hub::new(replay, 16, StreamMetrics::default())
    }

    #[test]
    fn frames_carry_the_stream_and_a_sequence() {
        let hub = hub(10);
        let mut sub = hub.subscribe(None);
        hub.publish([draft(1), draft(2)]);
        let first = sub.live.try_recv().unwrap();
        assert_eq!(first.frame, format!("id: {}-1\nevent: reading\ndata: {{\"n\":1}}\n\n", hub.stream_name()));
        assert_eq!(sub.live.try_recv().unwrap().seq, 2);
    }

    #[test]
    fn resuming_replays_exactly_what_came_after_the_last_id() {
        let hub = hub(3);
        hub.publish((1..=5).map(draft));
        let at = |seq| LastEventId { stream: hub.stream_name().to_owned(), seq };
        let seqs = |s: Subscription| (s.resync.is_some(), s.replay.iter().map(|e| e.seq).collect::<Vec<_>>());
        assert_eq!(seqs(hub.subscribe(Some(&at(2)))), (false, vec![3, 4, 5]), "the ring holds 3..=5");
        assert_eq!(seqs(hub.subscribe(Some(&at(4)))), (false, vec![5]));
        assert_eq!(seqs(hub.subscribe(Some(&at(5)))), (false, vec![]));
        assert_eq!(seqs(hub.subscribe(Some(&at(1)))), (true, vec![]), "2 is lost: resync");
        assert_eq!(seqs(hub.subscribe(Some(&at(6)))), (true, vec![]), "from the future");
        let other = LastEventId { stream: "abc".into(), seq: 3 };
        assert_eq!(seqs(hub.subscribe(Some(&other))), (true, vec![]));
    }

    #[test]
    fn ids_parse_strictly() {
        assert_eq!(LastEventId::parse("18c9f-42"), Some(LastEventId { stream: "18c9f".into(), seq: 42 }));
        for bad in ["", "42", "-42", "a-", "a-b", "a b-1", "a-1-"] {
            assert_eq!(LastEventId::parse(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn a_client_too_far_behind_learns_it_from_the_channel() {
        let hub = hub(0);
        let mut sub = hub.subscribe(None);
        hub.publish((0..40).map(draft));
        assert!(matches!(sub.live.try_recv(), Err(broadcast::error::TryRecvError::Lagged(_))));
    }
}
