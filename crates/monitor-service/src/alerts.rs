//! `GET {API_PREFIX}/alerts` and the stream's `alert` events: which patients
//! are escalated (NEWS2 medium or high), since when.
//!
//! Each replica keeps the ward's escalations in memory
//! ([`vitals::escalation::Escalations`], one small entry per patient with
//! readings) and derives them from PostgreSQL, never from its own history:
//! from the stored readings whenever its connection to the announcements is
//! made (at start and after a loss), then kept current from the stream's
//! feed, which already fetches every stored reading once for all clients.
//! Whatever the feed cannot judge in order (a reading older than the newest
//! seen, updated or deleted readings) is derived again for that patient.
//! Several replicas therefore agree (each derives from the same rows), a
//! restart loses nothing, and a request costs no query but the names. While
//! the book is not current (before the first derivation, after the
//! announcements were lost, or when a derivation failed) a request derives
//! the list itself from the stored readings: slower, never stale.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard};

use axum::Json;
use axum::extract::State;
use chrono::{DateTime, Utc};
use prometheus_client::encoding::{EncodeLabelSet, EncodeLabelValue};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use serde::Serialize;
use uuid::Uuid;
use vitals::RiskBand;
use vitals::escalation::{Change, Derived, Escalation, Escalations, Observed};

use crate::api::Shared;
use crate::auth::Caller;
use crate::error::ApiError;

/// How a derivation of the escalations from the stored readings ended.
#[derive(Debug, Clone, Copy, Hash, PartialEq, Eq, EncodeLabelValue)]
#[allow(non_camel_case_types)]
pub enum Outcome {
    ok,
    failed,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct OutcomeLabel {
    pub outcome: Outcome,
}

#[derive(Debug, Clone, Default)]
pub struct AlertMetrics {
    pub trusted: Gauge,
    pub escalated: Gauge,
    pub derivations: Family<OutcomeLabel, Counter>,
}

impl AlertMetrics {
    pub fn register(registry: &mut Registry) -> AlertMetrics {
        let m = AlertMetrics::default();
        registry.register(
            "icu_alerts_trusted",
            "1 while the replica's escalations follow every stored reading; 0 while /alerts asks the database itself",
            m.trusted.clone(),
        );
        registry.register(
            "icu_alerts_escalated",
            "Patients escalated (NEWS2 medium or high), as this replica knows",
            m.escalated.clone(),
        );
        registry.register(
            "icu_alerts_derivations",
            "Derivations of the ward's escalations from the stored readings, by outcome",
            m.derivations.clone(),
        );
        for outcome in [Outcome::ok, Outcome::failed] {
            // Both series from zero, so a rate over them works from the start.
            let _ = m.derivations.get_or_create(&OutcomeLabel { outcome });
        }
        m
    }
}

/// The ward's escalations as this replica knows them.
#[derive(Debug, Default)]
pub struct Alerts {
    book: Mutex<Escalations>,
    /// The book follows every stored reading since it was last derived.
    current: AtomicBool,
    /// Counts the losses of the announcements: a derivation that began
    /// before the latest loss cannot make the book current.
    losses: AtomicU64,
    /// The announcements are heard.
    listening: AtomicBool,
    /// The book was derived at least once (its first derivation's changes
    /// are the ward as it was, not news for the stream).
    derived: AtomicBool,
    metrics: AlertMetrics,
}

impl Alerts {
    pub fn new(metrics: AlertMetrics) -> Alerts {
        Alerts { metrics, ..Alerts::default() }
    }

    /// Counts a derivation of the whole ward that failed.
    pub fn derivation_failed(&self) {
        self.metrics.derivations.get_or_create(&OutcomeLabel { outcome: Outcome::failed }).inc();
    }

    fn set_current(&self, current: bool, book: &Escalations) {
        self.current.store(current, Ordering::SeqCst);
        self.metrics.trusted.set(i64::from(current));
        self.metrics.escalated.set(book.escalated().len() as i64);
    }

    fn lock(&self) -> MutexGuard<'_, Escalations> {
        // Every statement under the lock leaves the book consistent.
        self.book.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    pub fn is_current(&self) -> bool {
        self.current.load(Ordering::SeqCst)
    }

    /// The announcements are heard again (derive before trusting the book).
    pub fn connected(&self) {
        self.listening.store(true, Ordering::SeqCst);
    }

    /// The announcements were lost: readings may be missed from now on, so
    /// requests derive for themselves until the book is derived again.
    pub fn lost(&self) {
        self.listening.store(false, Ordering::SeqCst);
        self.invalidate();
    }

    /// Readings were or may have been missed (the feed fell behind, a query
    /// failed): the book is derived again before it is trusted.
    pub fn invalidate(&self) {
        self.losses.fetch_add(1, Ordering::SeqCst);
        self.current.store(false, Ordering::SeqCst);
        self.metrics.trusted.set(0);
    }

    pub fn is_listening(&self) -> bool {
        self.listening.load(Ordering::SeqCst)
    }

    /// Taken before a derivation's query, handed to [`Alerts::restore_all`].
    pub fn losses(&self) -> u64 {
        self.losses.load(Ordering::SeqCst)
    }

    /// The escalated patients (newest escalation first) when the book is current.
    pub fn escalated(&self) -> Option<Vec<(Uuid, Escalation)>> {
        let book = self.lock();
        self.is_current().then(|| book.escalated())
    }

    /// Takes a stored reading, in the order the feed publishes them.
    pub fn observe(&self, patient: Uuid, at: DateTime<Utc>, band: RiskBand) -> Observed {
        let mut book = self.lock();
        let observed = book.observe(patient, at, band);
        if let Observed::Changed(change) = observed {
            let delta = match change.levels() {
                (None, Some(_)) => 1,
                (Some(_), None) => -1,
                _ => 0,
            };
            self.metrics.escalated.inc_by(delta);
        }
        observed
    }

    /// Takes the whole ward as derived from the stored readings; the changes
    /// a reader of the stream missed (none on the first derivation).
    pub fn restore_all(&self, derived: Vec<(Uuid, Derived)>, losses_before: u64) -> Vec<(Uuid, Change)> {
        let mut book = self.lock();
        let changes = book.restore_all(derived);
        // Under the lock, so a request never sees the new flag with the old book.
        self.set_current(self.is_listening() && self.losses() == losses_before, &book);
        drop(book);
        self.metrics.derivations.get_or_create(&OutcomeLabel { outcome: Outcome::ok }).inc();
        if self.derived.swap(true, Ordering::SeqCst) { changes } else { Vec::new() }
    }

    /// Takes these patients as derived (a patient left out has no readings).
    pub fn restore(&self, patients: &[Uuid], derived: Vec<(Uuid, Derived)>) -> Vec<(Uuid, Change)> {
        let mut book = self.lock();
        let mut derived: std::collections::HashMap<Uuid, Derived> = derived.into_iter().collect();
        let changes = patients.iter().filter_map(|p| Some((*p, book.restore(*p, derived.remove(p))?))).collect();
        self.metrics.escalated.set(book.escalated().len() as i64);
        changes
    }
}

/// One escalated patient in `GET /alerts`.
#[derive(Debug, Serialize)]
pub struct AlertView {
    pub uuid: Uuid,
    pub name: String,
    pub bed: Option<String>,
    pub level: &'static str,
    /// The first reading of the current escalation.
    pub since: DateTime<Utc>,
}

#[derive(Debug, Serialize)]
pub struct AlertList {
    pub alerts: Vec<AlertView>,
}

/// The data of an `alert` event on the stream.
#[derive(Debug, Serialize)]
pub struct AlertChange {
    pub patient: Uuid,
    /// `entered`, `raised` (medium to high), `lowered` (high to medium), `left`.
    pub change: &'static str,
    /// `escalation` (entered, raised) or `de-escalation` (lowered, left).
    pub direction: &'static str,
    /// The level now; none once the escalation ended.
    pub level: Option<&'static str>,
    pub previous_level: Option<&'static str>,
    /// The first reading of the escalation concerned (the one that ended, for `left`).
    pub since: DateTime<Utc>,
    /// The reading that made the change.
    pub at: DateTime<Utc>,
}

impl AlertChange {
    pub fn new(patient: Uuid, change: &Change) -> Self {
        let (before, after) = change.levels();
        let name = match change {
            Change::Entered(_) => "entered",
            Change::LevelChanged { .. } if change.is_escalation() => "raised",
            Change::LevelChanged { .. } => "lowered",
            Change::Left { .. } => "left",
        };
        AlertChange {
            patient,
            change: name,
            direction: if change.is_escalation() { "escalation" } else { "de-escalation" },
            level: after.map(|l| l.as_str()),
            previous_level: before.map(|l| l.as_str()),
            since: change.escalation().since,
            at: change.at(),
        }
    }
}

/// `GET {API_PREFIX}/alerts`: the escalated patients, newest escalation
/// first; a patient's token sees at most themselves.
pub async fn list_alerts(State(state): State<Shared>, caller: Caller) -> Result<Json<AlertList>, ApiError> {
    let scope = caller.scope();
    let escalated = match state.alerts.escalated() {
        Some(all) => all.into_iter().filter(|(p, _)| scope.is_none_or(|own| own == *p)).collect(),
        None => {
            let only = scope.map(|own| vec![own]);
            let derived = store::escalations::derive(&state.pool, only.as_deref()).await?;
            let mut book = Escalations::default();
            book.restore_all(derived);
            book.escalated()
        }
    };
    let uuids: Vec<Uuid> = escalated.iter().map(|(p, _)| *p).collect();
    let mut patients: std::collections::HashMap<Uuid, store::ward::AdmittedPatient> =
        store::ward::admitted(&state.pool, &uuids).await?.into_iter().map(|p| (p.uuid, p)).collect();
    let alerts = escalated
        .into_iter()
        .filter_map(|(uuid, e)| {
            let p = patients.remove(&uuid)?;
            Some(AlertView { uuid, name: p.name, bed: p.bed, level: e.level.as_str(), since: e.since })
        })
        .collect();
    Ok(Json(AlertList { alerts }))
}
