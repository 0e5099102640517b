//! Readiness from two witnesses: the landing loop (did its last batch land?)
//! and the maintenance loop (does the database answer its sweep?). Ready only
//! while neither reports a failure, so a sweep that succeeds cannot make a
//! replica whose batches keep failing look healthy, and a replica that is
//! idle still notices the database going away.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use telemetry::Readiness;

#[derive(Debug, Clone)]
pub struct Health {
    readiness: Readiness,
    landing_ok: Arc<AtomicBool>,
    database_ok: Arc<AtomicBool>,
}

impl Health {
    pub fn new(readiness: Readiness) -> Health {
        let health = Health {
            readiness,
            landing_ok: Arc::new(AtomicBool::new(true)),
            database_ok: Arc::new(AtomicBool::new(true)),
        };
        health.update();
        health
    }

    pub fn landing(&self, ok: bool) {
        self.landing_ok.store(ok, Ordering::Relaxed);
        self.update();
    }

    pub fn database(&self, ok: bool) {
        self.database_ok.store(ok, Ordering::Relaxed);
        self.update();
    }

    fn update(&self) {
        self.readiness.set(self.landing_ok.load(Ordering::Relaxed) && self.database_ok.load(Ordering::Relaxed));
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
