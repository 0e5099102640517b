//! Turns the database's announcements into stream events. The listener
//! (`announcements.rs`) hands each announcement over without waiting; one
//! task fetches what a batch of announcements names, with one query for the
//! readings and one for the admissions, and publishes the events in
//! announcement (commit) order. Nothing here is per client.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use sqlx::PgPool;
use store::changes::{ReadingKey, ReadingsChanged};
use store::ward::{AdmittedPatient, PatientReading};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use uuid::Uuid;

use super::EventKind;
use super::hub::{Draft, Hub};
use crate::views::{AdmissionView, ReadingView, StreamReading};

/// Announcements waiting for the feed; beyond, they are dropped and the
/// clients told to resync (the feed is behind by that many commits).
const QUEUE: usize = 1024;
/// Announcements answered by one pair of queries at most.
const BATCH: usize = 64;

#[derive(Debug)]
enum Heard {
    Change(ReadingsChanged),
    Gap(&'static str),
}

/// The listener's handle on the feed.
#[derive(Clone)]
pub struct Feed {
    queue: mpsc::Sender<Heard>,
    overflowed: Arc<AtomicBool>,
}

impl Feed {
    /// Starts the feeding task; it ends when every `Feed` is dropped.
    pub fn start(pool: PgPool, hub: Arc<Hub>) -> (Feed, JoinHandle<()>) {
        let (queue, announced) = mpsc::channel(QUEUE);
        let overflowed = Arc::new(AtomicBool::new(false));
        let task = tokio::spawn(feed(pool, hub, announced, overflowed.clone()));
        (Feed { queue, overflowed }, task)
    }

    /// Hands an announcement over without waiting.
    pub fn announce(&self, change: &ReadingsChanged) {
        // Updates and deletes of readings are not news for the stream, which
        // carries what is stored; heartbeats concern the listener only.
        if matches!(change, ReadingsChanged::Heartbeat | ReadingsChanged::Patients(_)) {
            return;
        }
        self.send(Heard::Change(change.clone()));
    }

    /// Announcements may have been missed here (the listener reconnected).
    pub fn gap(&self, why: &'static str) {
        self.send(Heard::Gap(why));
    }

    fn send(&self, heard: Heard) {
        if self.queue.try_send(heard).is_err() {
            self.overflowed.store(true, Ordering::Relaxed);
        }
    }
}

#[tracing::instrument(skip_all)]
async fn feed(pool: PgPool, hub: Arc<Hub>, mut announced: mpsc::Receiver<Heard>, overflowed: Arc<AtomicBool>) {
    let mut batch = Vec::with_capacity(BATCH);
    while announced.recv_many(&mut batch, BATCH).await > 0 {
        let drafts = events_of(&pool, &hub, &batch).await;
        hub.publish(drafts);
        batch.clear();
        // Told after what was queued before the overflow, so a client that
        // reloads on it does so after everything it had been sent.
        if overflowed.swap(false, Ordering::Relaxed) {
            tracing::warn!("the stream's feed fell behind; announcements dropped, clients told to resync");
            hub.gap("announcements were dropped: the stream fell behind the database");
        }
    }
}

/// The events a batch of announcements stands for, in order.
async fn events_of(pool: &PgPool, hub: &Hub, batch: &[Heard]) -> Vec<Draft> {
    let mut keys: Vec<ReadingKey> = Vec::new();
    let mut admitted: Vec<Uuid> = Vec::new();
    for heard in batch {
        match heard {
            Heard::Change(ReadingsChanged::Stored(stored)) => keys.extend_from_slice(stored),
            Heard::Change(ReadingsChanged::Admitted(uuids)) => admitted.extend_from_slice(uuids),
            _ => {}
        }
    }
    let (readings, patients) = tokio::join!(
        async { if keys.is_empty() { Ok(Vec::new()) } else { store::ward::readings_by_key(pool, &keys).await } },
        async { if admitted.is_empty() { Ok(Vec::new()) } else { store::ward::admitted(pool, &admitted).await } },
    );
    hub.metrics.queries.inc_by(u64::from(!keys.is_empty()) + u64::from(!admitted.is_empty()));
    let (mut readings, patients) = match (readings, patients) {
        (Ok(r), Ok(p)) => (
            r.into_iter().map(|r| ((r.patient_id, r.reading.measured_at), r)).collect::<HashMap<_, _>>(),
            p.into_iter().map(|p| (p.uuid, p)).collect::<HashMap<_, _>>(),
        ),
        (Err(e), _) | (_, Err(e)) => {
            tracing::warn!(error = %e, "the stream's feed could not read what was announced");
            return vec![resync("the database did not answer the stream's feed")];
        }
    };
    let mut drafts = Vec::with_capacity(keys.len() + admitted.len());
    for heard in batch {
        match heard {
            Heard::Change(ReadingsChanged::Stored(stored)) => drafts.extend(
                // A reading deleted since it was announced is no longer news.
                stored.iter().filter_map(|k| readings.remove(&(k.patient, k.measured_at))).map(reading_event),
            ),
            Heard::Change(ReadingsChanged::Admitted(uuids)) => {
                drafts.extend(uuids.iter().filter_map(|u| patients.get(u)).map(admission_event))
            }
            Heard::Change(ReadingsChanged::All) => {
                drafts.push(resync("readings were truncated or changed in bulk"));
            }
            Heard::Change(_) => {}
            Heard::Gap(why) => drafts.push(resync(why)),
        }
    }
    drafts
}

fn reading_event(r: PatientReading) -> Draft {
    let patient = r.patient_id;
    let body = StreamReading { patient, reading: ReadingView::from(r.reading) };
    Draft { kind: EventKind::reading, patient: Some(patient), data: to_json(&body) }
}

fn admission_event(p: &AdmittedPatient) -> Draft {
    let body = AdmissionView::from(p);
    Draft { kind: EventKind::admission, patient: Some(p.uuid), data: to_json(&body) }
}

fn resync(why: &str) -> Draft {
    super::hub::gap_draft(why)
}

fn to_json(body: &impl serde::Serialize) -> String {
    // Plain structs of strings, numbers and timestamps always encode.
    serde_json::to_string(body).unwrap_or_else(|_| "{}".to_owned())
}
