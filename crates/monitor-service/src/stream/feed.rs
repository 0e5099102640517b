//! Turns the database's announcements into stream events. The listener
//! (`announcements.rs`) hands each announcement over without waiting; one
//! task fetches what a batch of announcements names, with one query for the
//! readings and one for the admissions, and publishes the events in
//! announcement (commit) order. Nothing here is per client.
//!
//! The same readings keep the alert list current ([`crate::alerts`]): each
//! reading event is followed by an `alert` event when it changed its
//! patient's escalation, and the escalations are derived again from the
//! stored readings when the feed cannot follow them in order (a new
//! connection to the announcements, a gap, a reading out of order).

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use sqlx::PgPool;
use store::changes::{ReadingKey, ReadingsChanged};
use store::ward::{AdmittedPatient, PatientReading};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use uuid::Uuid;
use vitals::escalation::{Change, Observed};

use super::EventKind;
use super::hub::{Draft, Hub};
use crate::alerts::{AlertChange, Alerts};
use crate::views::{AdmissionView, ReadingView, StreamReading};

/// Announcements waiting for the feed; beyond, they are dropped and the
/// clients told to resync (the feed is behind by that many commits).
const QUEUE: usize = 1024;
/// Announcements answered by one pair of queries at most.
const BATCH: usize = 64;
/// How soon a failed derivation of the escalations is tried again.
const DERIVE_RETRY: Duration = Duration::from_secs(2);

#[derive(Debug)]
enum Heard {
    Change(ReadingsChanged),
    /// The listener (re)connected; announcements may have been missed
    /// before, unless it is the first connection.
    Listening {
        first: bool,
    },
}

/// The listener's handle on the feed.
#[derive(Clone)]
pub struct Feed {
    queue: mpsc::Sender<Heard>,
    overflowed: Arc<AtomicBool>,
    alerts: Arc<Alerts>,
}

impl Feed {
    /// Starts the feeding task; it ends when every `Feed` is dropped.
    pub fn start(pool: PgPool, hub: Arc<Hub>, alerts: Arc<Alerts>) -> (Feed, JoinHandle<()>) {
        let (queue, announced) = mpsc::channel(QUEUE);
        let overflowed = Arc::new(AtomicBool::new(false));
        let task = tokio::spawn(feed(pool, hub, alerts.clone(), announced, overflowed.clone()));
        (Feed { queue, overflowed, alerts }, task)
    }

    /// Hands an announcement over without waiting.
    pub fn announce(&self, change: &ReadingsChanged) {
        // Heartbeats concern the listener only. Updated or deleted readings
        // are no news for the stream, which carries what is stored, but the
        // escalations of their patients are derived again.
        if matches!(change, ReadingsChanged::Heartbeat) {
            return;
        }
        self.send(Heard::Change(change.clone()));
    }

    /// The listener connected: the escalations are derived from what is
    /// stored; after the first connection, announcements may have been
    /// missed and the stream's clients are told to resync.
    pub fn listening(&self, first: bool) {
        self.alerts.connected();
        self.send(Heard::Listening { first });
    }

    /// The listener lost its connection: the alert list stops trusting what
    /// it follows until it is derived again.
    pub fn lost(&self) {
        self.alerts.lost();
    }

    fn send(&self, heard: Heard) {
        if self.queue.try_send(heard).is_err() {
            self.overflowed.store(true, Ordering::Relaxed);
        }
    }
}

#[tracing::instrument(skip_all)]
async fn feed(
    pool: PgPool,
    hub: Arc<Hub>,
    alerts: Arc<Alerts>,
    mut announced: mpsc::Receiver<Heard>,
    overflowed: Arc<AtomicBool>,
) {
    let mut batch = Vec::with_capacity(BATCH);
    loop {
        // A listener that is connected but whose escalations could not be
        // derived: try again after a while, even with nothing announced.
        let retry = alerts.is_listening() && !alerts.is_current();
        let received = if retry {
            match tokio::time::timeout(DERIVE_RETRY, announced.recv_many(&mut batch, BATCH)).await {
                Ok(received) => received,
                Err(_) => {
                    hub.publish(derive_ward(&pool, &alerts).await);
                    continue;
                }
            }
        } else {
            announced.recv_many(&mut batch, BATCH).await
        };
        if received == 0 {
            break;
        }
        let mut drafts = events_of(&pool, &hub, &alerts, &batch).await;
        batch.clear();
        // Told after what was queued before the overflow, so a client that
        // reloads on it does so after everything it had been sent.
        if overflowed.swap(false, Ordering::Relaxed) {
            tracing::warn!("the stream's feed fell behind; announcements dropped, clients told to resync");
            drafts.push(resync("announcements were dropped: the stream fell behind the database"));
            alerts.invalidate();
            drafts.extend(derive_ward(&pool, &alerts).await);
        }
        hub.publish(drafts);
    }
}

/// Derives the whole ward's escalations; the `alert` events of what changed.
async fn derive_ward(pool: &PgPool, alerts: &Alerts) -> Vec<Draft> {
    let losses = alerts.losses();
    match store::escalations::derive(pool, None).await {
        Ok(derived) => alert_events(alerts.restore_all(derived, losses)),
        Err(e) => {
            tracing::warn!(error = %e, "the escalations could not be derived; /alerts asks the database meanwhile");
            alerts.derivation_failed();
            alerts.invalidate();
            Vec::new()
        }
    }
}

/// Derives these patients' escalations again; the `alert` events of what changed.
async fn derive_patients(pool: &PgPool, alerts: &Alerts, patients: &mut Vec<Uuid>) -> Vec<Draft> {
    patients.sort_unstable();
    patients.dedup();
    match store::escalations::derive(pool, Some(patients)).await {
        Ok(derived) => alert_events(alerts.restore(patients, derived)),
        Err(e) => {
            tracing::warn!(error = %e, "escalations could not be derived again; the whole ward will be");
            alerts.invalidate();
            Vec::new()
        }
    }
}

fn alert_events(changes: Vec<(Uuid, Change)>) -> Vec<Draft> {
    changes.iter().map(|(patient, change)| alert_event(*patient, change)).collect()
}

/// The events a batch of announcements stands for, in order.
async fn events_of(pool: &PgPool, hub: &Hub, alerts: &Alerts, batch: &[Heard]) -> Vec<Draft> {
    let mut keys: Vec<ReadingKey> = Vec::new();
    let mut admitted: Vec<Uuid> = Vec::new();
    // The escalations of the whole ward, or of these patients, are derived
    // from the database after the batch rather than followed reading by reading.
    let mut derive_all = !alerts.is_current();
    let mut derive: Vec<Uuid> = Vec::new();
    for heard in batch {
        match heard {
            Heard::Change(ReadingsChanged::Stored(stored)) => keys.extend_from_slice(stored),
            Heard::Change(ReadingsChanged::Admitted(uuids)) => admitted.extend_from_slice(uuids),
            Heard::Change(ReadingsChanged::Patients(uuids)) => derive.extend_from_slice(uuids),
            Heard::Change(ReadingsChanged::All) | Heard::Listening { .. } => derive_all = true,
            Heard::Change(ReadingsChanged::Heartbeat) => {}
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
            alerts.invalidate();
            return vec![resync("the database did not answer the stream's feed")];
        }
    };
    let mut drafts = Vec::with_capacity(keys.len() + admitted.len());
    for heard in batch {
        match heard {
            Heard::Change(ReadingsChanged::Stored(stored)) => {
                // A reading deleted since it was announced is no longer news.
                for reading in stored.iter().filter_map(|k| readings.remove(&(k.patient, k.measured_at))) {
                    let (patient, at) = (reading.patient_id, reading.reading.measured_at);
                    let band = store::escalations::band_of(&reading.reading.news2_band);
                    drafts.push(reading_event(reading));
                    if derive_all {
                        continue;
                    }
                    match alerts.observe(patient, at, band) {
                        Observed::Unchanged => {}
                        Observed::Changed(change) => drafts.push(alert_event(patient, &change)),
                        Observed::OutOfOrder => derive.push(patient),
                    }
                }
            }
            Heard::Change(ReadingsChanged::Admitted(uuids)) => {
                drafts.extend(uuids.iter().filter_map(|u| patients.get(u)).map(admission_event))
            }
            Heard::Change(ReadingsChanged::All) => {
                drafts.push(resync("readings were truncated or changed in bulk"));
            }
            Heard::Listening { first: false } => {
                drafts.push(resync("the stream's connection to the database was lost and made anew"));
            }
            Heard::Change(ReadingsChanged::Patients(_) | ReadingsChanged::Heartbeat)
            | Heard::Listening { first: true } => {}
        }
    }
    if derive_all {
        drafts.extend(derive_ward(pool, alerts).await);
    } else if !derive.is_empty() {
        drafts.extend(derive_patients(pool, alerts, &mut derive).await);
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

fn alert_event(patient: Uuid, change: &Change) -> Draft {
    Draft { kind: EventKind::alert, patient: Some(patient), data: to_json(&AlertChange::new(patient, change)) }
}

fn resync(why: &str) -> Draft {
    super::hub::gap_draft(why)
}

fn to_json(body: &impl serde::Serialize) -> String {
    // Plain structs of strings, numbers and timestamps always encode.
    serde_json::to_string(body).unwrap_or_else(|_| "{}".to_owned())
}
