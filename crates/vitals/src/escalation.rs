//! Escalation bookkeeping: a patient is escalated while their readings stay
//! in the medium band (total 5–6, or any single parameter at 3) or the high
//! band (7 or more); the escalation began with the first reading of that run
//! and ends with the first low reading. Fed one patient's readings in time
//! order, the tracker says what changed, for an alert list and its events.

use chrono::{DateTime, Utc};

use crate::news2::RiskBand;

/// How urgent an escalated patient is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum AlertLevel {
    /// Total 5–6, or a single parameter at 3: urgent review.
    Medium,
    /// Total 7 or more: emergency response.
    High,
}

impl AlertLevel {
    /// The alert level of a band; none for low.
    pub fn of(band: RiskBand) -> Option<AlertLevel> {
        match band {
            RiskBand::Low => None,
            RiskBand::LowMedium | RiskBand::Medium => Some(AlertLevel::Medium),
            RiskBand::High => Some(AlertLevel::High),
        }
    }
}

/// A current escalation: its level now, and the first reading of the run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Escalation {
    pub level: AlertLevel,
    pub since: DateTime<Utc>,
}

/// What one reading changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    Entered(Escalation),
    /// Still escalated, at another level (`since` unchanged).
    LevelChanged {
        from: AlertLevel,
        now: Escalation,
    },
    /// Back to low at `at`; the escalation that ended.
    Left {
        ended: Escalation,
        at: DateTime<Utc>,
    },
}

/// One patient's escalation state.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Tracker {
    current: Option<Escalation>,
}

impl Tracker {
    pub fn current(&self) -> Option<Escalation> {
        self.current
    }

    /// Takes the next reading's band (readings in time order); `None` when
    /// nothing changed.
    pub fn observe(&mut self, at: DateTime<Utc>, band: RiskBand) -> Option<Change> {
        let level = AlertLevel::of(band);
        let (change, next) = match (self.current, level) {
            (None, None) => (None, None),
            (None, Some(level)) => {
                let started = Escalation { level, since: at };
                (Some(Change::Entered(started)), Some(started))
            }
            (Some(ended), None) => (Some(Change::Left { ended, at }), None),
            (Some(current), Some(level)) if level == current.level => (None, Some(current)),
            (Some(current), Some(level)) => {
                let now = Escalation { level, since: current.since };
                (Some(Change::LevelChanged { from: current.level, now }), Some(now))
            }
        };
        self.current = next;
        change
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn t(minute: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 29, 8, minute, 0).unwrap()
    }

    #[test]
    fn enters_stays_changes_level_leaves_and_re_enters() {
        let mut tracker = Tracker::default();
        assert_eq!(tracker.observe(t(0), RiskBand::Low), None);
        let first = Escalation { level: AlertLevel::Medium, since: t(1) };
        assert_eq!(tracker.observe(t(1), RiskBand::LowMedium), Some(Change::Entered(first)));
        assert_eq!(tracker.observe(t(2), RiskBand::Medium), None, "stays: same level");
        let high = Escalation { level: AlertLevel::High, since: t(1) };
        assert_eq!(
            tracker.observe(t(3), RiskBand::High),
            Some(Change::LevelChanged { from: AlertLevel::Medium, now: high }),
            "since stays the first reading of the escalation"
        );
        assert_eq!(tracker.observe(t(4), RiskBand::High), None);
        assert_eq!(tracker.current(), Some(high));
        assert_eq!(tracker.observe(t(5), RiskBand::Low), Some(Change::Left { ended: high, at: t(5) }));
        assert_eq!(tracker.current(), None);
        assert_eq!(tracker.observe(t(6), RiskBand::Low), None);
        let again = Escalation { level: AlertLevel::High, since: t(7) };
        assert_eq!(tracker.observe(t(7), RiskBand::High), Some(Change::Entered(again)), "a new since");
    }

    #[test]
    fn bands_map_to_alert_levels() {
        assert_eq!(AlertLevel::of(RiskBand::Low), None);
        assert_eq!(AlertLevel::of(RiskBand::LowMedium), Some(AlertLevel::Medium));
        assert_eq!(AlertLevel::of(RiskBand::Medium), Some(AlertLevel::Medium));
        assert_eq!(AlertLevel::of(RiskBand::High), Some(AlertLevel::High));
    }
}
