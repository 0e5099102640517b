//! Readiness from two witnesses: the landing loop (did its last batch land?)
//! and the maintenance loop (does the database answer its sweep?). Ready only
//! while neither reports a failure, so a sweep that succeeds cannot make a
//! replica whose batches keep failing look healthy, and a replica that is
//! idle still notices the database going away.

use std::sync::{Arc, Mutex};

use telemetry::Readiness;

#[derive(Debug, Clone)]
pub struct Health {
    readiness: Readiness,
    /// (landing fine, database fine), updated and published together so two
    /// witnesses reporting at once cannot publish a stale combination.
    witnesses: Arc<Mutex<(bool, bool)>>,
}

impl Health {
    pub fn new(readiness: Readiness) -> Health {
        readiness.set(true);
        Health { readiness, witnesses: Arc::new(Mutex::new((true, true))) }
    }

    pub fn landing(&self, ok: bool) {
        self.update(|w| w.0 = ok);
    }

    pub fn database(&self, ok: bool) {
        self.update(|w| w.1 = ok);
    }

    fn update(&self, change: impl FnOnce(&mut (bool, bool))) {
        // Poisoned only by a panic while held, and nothing below can panic;
        // a panic anywhere ends the process anyway (telemetry::panic).
        let mut witnesses = self.witnesses.lock().expect("the health lock is never poisoned");
        change(&mut witnesses);
        self.readiness.set(witnesses.0 && witnesses.1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ready_only_while_both_witnesses_are_content() {
        let readiness = Readiness::default();
        let health = Health::new(readiness.clone());
        assert!(readiness.is_ready());
        health.landing(false);
        health.database(true);
        assert!(!readiness.is_ready(), "a good sweep does not hide a failing landing");
        health.landing(true);
        assert!(readiness.is_ready());
        health.database(false);
        health.landing(true);
        assert!(!readiness.is_ready(), "a landed batch does not hide a failing sweep");
        health.database(true);
        assert!(readiness.is_ready());
    }
}
