//! Escalation bookkeeping: a patient is escalated while their readings stay
//! in the medium band (total 5–6, or any single parameter at 3) or the high
//! band (7 or more); the escalation began with the first reading of that run
//! and ends with the first low reading. Fed each patient's readings in time
//! order, the book says what changed, for an alert list and its events.
//!
//! A reader that is not sure it saw every reading (it started, lost its
//! feed, or a reading older than the newest it saw arrived late) asks the
//! store for a patient's state and [`Escalations::restore`]s it: the
//! bookkeeping here never guesses across a gap.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::news2::RiskBand;

/// How urgent an escalated patient is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
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

    pub fn as_str(self) -> &'static str {
        match self {
            AlertLevel::Medium => "medium",
            AlertLevel::High => "high",
        }
    }
}

/// A current escalation: its level now, and the first reading of the run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Escalation {
    pub level: AlertLevel,
    pub since: DateTime<Utc>,
}

/// What one reading (or a restored state) changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    /// An escalation began (or, after a restore, one the reader had not
    /// known of replaced the one it knew: a new `since`).
    Entered(Escalation),
    /// Still escalated, at another level (`since` unchanged), from the reading at `at`.
    LevelChanged { from: AlertLevel, now: Escalation, at: DateTime<Utc> },
    /// Back to low at `at`; the escalation that ended.
    Left { ended: Escalation, at: DateTime<Utc> },
}

impl Change {
    /// Towards more urgency (entered, or raised to high); otherwise a de-escalation.
    pub fn is_escalation(&self) -> bool {
        match self {
            Change::Entered(_) => true,
            Change::LevelChanged { from, now, .. } => now.level > *from,
            Change::Left { .. } => false,
        }
    }

    /// The level before and after.
    pub fn levels(&self) -> (Option<AlertLevel>, Option<AlertLevel>) {
        match self {
            Change::Entered(e) => (None, Some(e.level)),
            Change::LevelChanged { from, now, .. } => (Some(*from), Some(now.level)),
            Change::Left { ended, .. } => (Some(ended.level), None),
        }
    }

    /// The escalation concerned: the current one, or the one that ended.
    pub fn escalation(&self) -> Escalation {
        match self {
            Change::Entered(e) | Change::LevelChanged { now: e, .. } | Change::Left { ended: e, .. } => *e,
        }
    }

    /// The reading that made the change.
    pub fn at(&self) -> DateTime<Utc> {
        match self {
            Change::Entered(e) => e.since,
            Change::LevelChanged { at, .. } | Change::Left { at, .. } => *at,
        }
    }
}

/// What [`Tracker::observe`] made of a reading.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Observed {
    Unchanged,
    Changed(Change),
    /// Not newer than the newest reading seen: it may fall inside a run the
    /// tracker has already judged, so only the store can say what it changes.
    /// The state is left as it was.
    OutOfOrder,
}

/// What the stored readings say of a patient: the newest reading, and the
/// escalation it belongs to, if any.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Derived {
    pub latest: DateTime<Utc>,
    pub current: Option<Escalation>,
}

impl Derived {
    /// From the newest reading's band and the first reading of its run
    /// (`None` from a store that found no run start: the newest reading is it).
    pub fn new(latest: DateTime<Utc>, band: RiskBand, since: Option<DateTime<Utc>>) -> Derived {
        let current = AlertLevel::of(band).map(|level| Escalation { level, since: since.unwrap_or(latest) });
        Derived { latest, current }
    }
}

/// One patient's escalation state.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Tracker {
    latest: Option<DateTime<Utc>>,
    current: Option<Escalation>,
}

impl Tracker {
    pub fn current(&self) -> Option<Escalation> {
        self.current
    }

    /// Takes the next reading's band.
    pub fn observe(&mut self, at: DateTime<Utc>, band: RiskBand) -> Observed {
        if self.latest.is_some_and(|latest| at <= latest) {
            return Observed::OutOfOrder;
        }
        self.latest = Some(at);
        let (change, next) = match (self.current, AlertLevel::of(band)) {
            (None, None) => (None, None),
            (None, Some(level)) => {
                let started = Escalation { level, since: at };
                (Some(Change::Entered(started)), Some(started))
            }
            (Some(ended), None) => (Some(Change::Left { ended, at }), None),
            (Some(current), Some(level)) if level == current.level => (None, Some(current)),
            (Some(current), Some(level)) => {
                let now = Escalation { level, since: current.since };
                (Some(Change::LevelChanged { from: current.level, now, at }), Some(now))
            }
        };
        self.current = next;
        change.map_or(Observed::Unchanged, Observed::Changed)
    }

    /// Takes the state the store derived; what that changed for a reader of this tracker.
    pub fn restore(&mut self, derived: Derived) -> Option<Change> {
        let before = self.current;
        *self = Tracker { latest: Some(derived.latest), current: derived.current };
        match (before, derived.current) {
            (None, None) => None,
            (None, Some(now)) => Some(Change::Entered(now)),
            (Some(ended), None) => Some(Change::Left { ended, at: derived.latest }),
            (Some(was), Some(now)) if was == now => None,
            (Some(was), Some(now)) if was.since == now.since => {
                Some(Change::LevelChanged { from: was.level, now, at: derived.latest })
            }
            (Some(_), Some(now)) => Some(Change::Entered(now)),
        }
    }
}

/// The ward's escalations: one tracker per patient with readings, so its
/// size is bounded by the ward's patients, whatever the readings.
#[derive(Debug, Clone, Default)]
pub struct Escalations {
    patients: HashMap<Uuid, Tracker>,
}

impl Escalations {
    /// Takes a patient's next reading (readings of one patient in time order).
    pub fn observe(&mut self, patient: Uuid, at: DateTime<Utc>, band: RiskBand) -> Observed {
        self.patients.entry(patient).or_default().observe(at, band)
    }

    /// Takes what the store says of one patient (`None`: no readings at all,
    /// the patient is forgotten).
    pub fn restore(&mut self, patient: Uuid, derived: Option<Derived>) -> Option<Change> {
        match derived {
            Some(derived) => self.patients.entry(patient).or_default().restore(derived),
            None => {
                let gone = self.patients.remove(&patient)?;
                let (ended, at) = (gone.current?, gone.latest?);
                Some(Change::Left { ended, at })
            }
        }
    }

    /// Takes what the store says of the whole ward: every patient not named
    /// has no readings any more. The changes, by patient.
    pub fn restore_all(&mut self, derived: impl IntoIterator<Item = (Uuid, Derived)>) -> Vec<(Uuid, Change)> {
        let mut before = std::mem::take(&mut self.patients);
        let mut changes = Vec::new();
        for (patient, derived) in derived {
            let mut tracker = before.remove(&patient).unwrap_or_default();
            if let Some(change) = tracker.restore(derived) {
                changes.push((patient, change));
            }
            self.patients.insert(patient, tracker);
        }
        for (patient, gone) in before {
            if let (Some(ended), Some(at)) = (gone.current, gone.latest) {
                changes.push((patient, Change::Left { ended, at }));
            }
        }
        changes
    }

    pub fn current(&self, patient: Uuid) -> Option<Escalation> {
        self.patients.get(&patient).and_then(Tracker::current)
    }

    /// The escalated patients, the newest escalation first (then by patient,
    /// so that the order is total).
    pub fn escalated(&self) -> Vec<(Uuid, Escalation)> {
        let mut list: Vec<(Uuid, Escalation)> =
            self.patients.iter().filter_map(|(p, t)| Some((*p, t.current?))).collect();
        list.sort_by(|a, b| b.1.since.cmp(&a.1.since).then(a.0.cmp(&b.0)));
        list
    }

    /// Patients tracked (those with readings).
    pub fn len(&self) -> usize {
        self.patients.len()
    }

    pub fn is_empty(&self) -> bool {
        self.patients.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::news2::{Acvpu, News2, Values};
    use chrono::TimeZone;

    fn t(minute: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 29, 8, minute, 0).unwrap()
    }

    /// What a step is expected to do, in the words of the alert list.
    #[derive(Debug, Clone, Copy, PartialEq)]
    enum Expect {
        Same,
        Enters(AlertLevel),
        Raised,
        Lowered,
        Leaves,
        OutOfOrder,
    }
    use AlertLevel::{High, Medium};
    use Expect::*;
    use RiskBand::{High as H, Low as L, LowMedium as LM, Medium as M};

    struct Case {
        name: &'static str,
        /// (minute, band of the reading at that minute, expected).
        steps: &'static [(u32, RiskBand, Expect)],
        /// The escalation at the end: level and the minute it began.
        end: Option<(AlertLevel, u32)>,
    }

    const CASES: &[Case] = &[
        Case { name: "stays low", steps: &[(0, L, Same), (1, L, Same)], end: None },
        Case { name: "enters", steps: &[(0, L, Same), (1, M, Enters(Medium))], end: Some((Medium, 1)) },
        Case {
            name: "a single parameter at 3 enters at medium",
            steps: &[(0, L, Same), (1, LM, Enters(Medium)), (2, M, Same)],
            end: Some((Medium, 1)),
        },
        Case {
            name: "stays: since is the first reading of the run",
            steps: &[(0, H, Enters(High)), (1, H, Same), (2, H, Same)],
            end: Some((High, 0)),
        },
        Case { name: "leaves", steps: &[(0, M, Enters(Medium)), (1, L, Leaves), (2, L, Same)], end: None },
        Case {
            name: "re-enters with a new since",
            steps: &[(0, M, Enters(Medium)), (1, L, Leaves), (2, LM, Enters(Medium)), (3, M, Same)],
            end: Some((Medium, 2)),
        },
        Case {
            name: "medium, high, medium keeps since",
            steps: &[(0, L, Same), (1, M, Enters(Medium)), (2, H, Raised), (3, H, Same), (4, LM, Lowered)],
            end: Some((Medium, 1)),
        },
        Case { name: "straight to high, then low", steps: &[(0, H, Enters(High)), (1, L, Leaves)], end: None },
        Case {
            name: "a reading older than the newest changes nothing",
            steps: &[(5, M, Enters(Medium)), (3, L, OutOfOrder), (5, H, OutOfOrder), (6, M, Same)],
            end: Some((Medium, 5)),
        },
    ];

    fn expect_of(observed: Observed) -> Expect {
        match observed {
            Observed::Unchanged => Same,
            Observed::OutOfOrder => OutOfOrder,
            Observed::Changed(Change::Entered(e)) => Enters(e.level),
            Observed::Changed(c @ Change::LevelChanged { .. }) if c.is_escalation() => Raised,
            Observed::Changed(Change::LevelChanged { .. }) => Lowered,
            Observed::Changed(Change::Left { .. }) => Leaves,
        }
    }

    #[test]
    fn escalation_table() {
        for case in CASES {
            let mut book = Escalations::default();
            let patient = Uuid::from_u128(7);
            for (i, &(minute, band, expected)) in case.steps.iter().enumerate() {
                let got = expect_of(book.observe(patient, t(minute), band));
                assert_eq!(got, expected, "{}: step {i} ({band:?} at minute {minute})", case.name);
            }
            let end = book.current(patient).map(|e| (e.level, e.since));
            assert_eq!(end, case.end.map(|(level, minute)| (level, t(minute))), "{}: the end", case.name);
            assert_eq!(book.escalated().len(), usize::from(case.end.is_some()), "{}", case.name);
        }
    }

    #[test]
    fn changes_say_which_way_and_from_which_reading() {
        let mut tracker = Tracker::default();
        let Observed::Changed(entered) = tracker.observe(t(1), M) else { panic!() };
        assert_eq!((entered.is_escalation(), entered.levels(), entered.at()), (true, (None, Some(Medium)), t(1)));
        let Observed::Changed(raised) = tracker.observe(t(2), H) else { panic!() };
        assert_eq!((raised.is_escalation(), raised.levels(), raised.at()), (true, (Some(Medium), Some(High)), t(2)));
        assert_eq!(raised.escalation(), Escalation { level: High, since: t(1) });
        let Observed::Changed(left) = tracker.observe(t(3), L) else { panic!() };
        assert_eq!((left.is_escalation(), left.levels(), left.at()), (false, (Some(High), None), t(3)));
        assert_eq!(left.escalation().since, t(1), "the escalation that ended");
    }

    /// The bands come from the score itself: a single parameter at 3 with a
    /// low total is escalated; a total of 4 without one is not.
    #[test]
    fn scored_readings_escalate_by_the_rcp_rules() {
        let normal = Values {
            pulse: 70,
            resp_rate: 16,
            systolic: 120,
            spo2: 97,
            temperature: 37.0,
            on_oxygen: false,
            acvpu: Acvpu::A,
        };
        let cases = [
            ("normal", normal, None),
            ("SpO2 91 alone (3)", Values { spo2: 91, ..normal }, Some(Medium)),
            ("new confusion alone (3)", Values { acvpu: Acvpu::C, ..normal }, Some(Medium)),
            ("total 4, no 3", Values { pulse: 115, resp_rate: 22, ..normal }, None),
            ("total 5", Values { pulse: 115, resp_rate: 22, spo2: 95, ..normal }, Some(Medium)),
            ("total 7", Values { pulse: 115, resp_rate: 22, spo2: 93, temperature: 39.5, ..normal }, Some(High)),
        ];
        for (name, values, level) in cases {
            let band = News2::of_values(values).band;
            assert_eq!(AlertLevel::of(band), level, "{name}: {band:?}");
        }
    }

    #[test]
    fn restoring_reports_what_the_reader_missed() {
        let p = Uuid::from_u128(1);
        let mut book = Escalations::default();
        let derived = |latest, band, since: Option<u32>| Some(Derived::new(t(latest), band, since.map(t)));
        assert_eq!(book.restore(p, derived(1, L, None)), None);
        assert_eq!(
            book.restore(p, derived(3, M, Some(2))),
            Some(Change::Entered(Escalation { level: Medium, since: t(2) }))
        );
        assert_eq!(book.restore(p, derived(4, M, Some(2))), None, "the same escalation");
        assert_eq!(
            book.restore(p, derived(5, H, Some(2))),
            Some(Change::LevelChanged { from: Medium, now: Escalation { level: High, since: t(2) }, at: t(5) })
        );
        assert_eq!(
            book.restore(p, derived(9, H, Some(8))),
            Some(Change::Entered(Escalation { level: High, since: t(8) })),
            "it ended and another began unseen: a new since"
        );
        assert_eq!(book.observe(p, t(9), L), Observed::OutOfOrder, "the restore set the newest reading");
        assert_eq!(
            book.restore(p, None),
            Some(Change::Left { ended: Escalation { level: High, since: t(8) }, at: t(9) }),
            "readings deleted"
        );
        assert!(book.is_empty());
    }

    #[test]
    fn restoring_the_ward_forgets_whom_the_store_no_longer_has() {
        let (a, b, c) = (Uuid::from_u128(1), Uuid::from_u128(2), Uuid::from_u128(3));
        let mut book = Escalations::default();
        book.observe(a, t(1), H);
        book.observe(b, t(1), M);
        book.observe(c, t(1), L);
        let changes =
            book.restore_all([(b, Derived::new(t(2), M, Some(t(1)))), (c, Derived::new(t(3), H, Some(t(3))))]);
        assert_eq!(
            changes,
            vec![
                (c, Change::Entered(Escalation { level: High, since: t(3) })),
                (a, Change::Left { ended: Escalation { level: High, since: t(1) }, at: t(1) }),
            ]
        );
        assert_eq!(book.len(), 2, "one tracker per patient the store has");
        assert_eq!(book.escalated().iter().map(|(p, _)| *p).collect::<Vec<_>>(), vec![c, b], "newest first");
    }

    #[test]
    fn equal_sinces_order_by_patient() {
        let mut book = Escalations::default();
        for p in [3u128, 1, 2] {
            book.observe(Uuid::from_u128(p), t(1), H);
        }
        let order: Vec<u128> = book.escalated().iter().map(|(p, _)| p.as_u128()).collect();
        assert_eq!(order, vec![1, 2, 3]);
    }
}
