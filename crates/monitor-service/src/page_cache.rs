//! Pages of readings, kept serialized, so that a ward's screens asking for the
//! same patient's latest readings again and again cost neither a query nor a
//! JSON encoding.
//!
//! A cached page is never stale: the database announces every committed
//! change to a patient's readings (`store::changes`) and the page is dropped
//! as the announcement arrives. A page read before a change but stored after
//! its announcement would outlive it, so each lookup that misses hands out a
//! [`Ticket`] taken before the query, and a page is stored only if its
//! patient has not changed since the ticket. While no listener is connected
//! nothing is cached or served (announcements could be missed), and every
//! (re)connection starts from an empty cache. Pages also expire after
//! `max_age`, a bound for writers that bypass the triggers.

use std::collections::{HashMap, VecDeque};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use store::changes::ReadingsChanged;
use store::ward::ReadingRange;
use telemetry::links::ReadingLinks;
use uuid::Uuid;

/// More patients than any ward has: beyond it the bookkeeping starts over.
const MAX_TRACKED_PATIENTS: usize = 100_000;

pub struct PageCache {
    state: Mutex<State>,
    budget_bytes: usize,
    max_age: Duration,
    metrics: CacheMetrics,
}

#[derive(Default)]
struct State {
    listening: bool,
    /// Bumped whenever everything is forgotten; tickets of older epochs are void.
    epoch: u64,
    /// Counts announcements; a patient remembers the count at its last change.
    changes: u64,
    patients: HashMap<Uuid, Patient>,
    /// Patients in the order their first page was kept: who goes first when
    /// the budget is full (entries whose pages are gone already are skipped).
    eviction: VecDeque<Uuid>,
    bytes: usize,
}

#[derive(Default)]
struct Patient {
    changed_at: u64,
    pages: HashMap<ReadingRange, Page>,
}

impl Patient {
    /// Drops every page; returns the bytes freed.
    fn drop_pages(&mut self) -> usize {
        self.pages.drain().map(|(_, page)| page.body.len()).sum()
    }
}

struct Page {
    body: Bytes,
    /// The request span of a hit links to the page's readings too.
    links: ReadingLinks,
    stored: Instant,
}

/// What a lookup found.
#[derive(Debug)]
pub enum Lookup {
    Hit(Bytes, ReadingLinks),
    /// Not cached: query, then offer the page back with this ticket.
    Miss(Ticket),
    /// The cache is off or not listening: query, and keep nothing.
    Bypass,
}

/// When a miss happened, in the cache's own clock.
#[derive(Debug, Clone, Copy)]
pub struct Ticket {
    epoch: u64,
    changes: u64,
}

impl PageCache {
    /// A cache of at most `budget_bytes` of page bodies (0: off).
    pub fn new(budget_bytes: usize, max_age: Duration, metrics: CacheMetrics) -> PageCache {
        PageCache { state: Mutex::new(State::default()), budget_bytes, max_age, metrics }
    }

    pub fn lookup(&self, patient: Uuid, range: &ReadingRange) -> Lookup {
        let found = self.lookup_inner(patient, range);
        let result = match found {
            Lookup::Hit(..) => "hit",
            Lookup::Miss(_) => "miss",
            Lookup::Bypass => "bypass",
        };
        self.metrics.lookups.get_or_create(&ResultLabel { result }).inc();
        found
    }

    fn lookup_inner(&self, patient: Uuid, range: &ReadingRange) -> Lookup {
        if !self.is_enabled() {
            return Lookup::Bypass;
        }
        let mut state = self.lock();
        if !state.listening {
            return Lookup::Bypass;
        }
        let ticket = Ticket { epoch: state.epoch, changes: state.changes };
        let Some(pages) = state.patients.get_mut(&patient) else {
            return Lookup::Miss(ticket);
        };
        let expired = match pages.pages.get(range) {
            Some(page) if page.stored.elapsed() <= self.max_age => {
                return Lookup::Hit(page.body.clone(), page.links.clone());
            }
            Some(_) => pages.pages.remove(range).map_or(0, |page| page.body.len()),
            None => 0,
        };
        state.bytes -= expired;
        self.metrics.bytes.set(state.bytes as i64);
        Lookup::Miss(ticket)
    }

    /// Keeps a page read after `ticket` was handed out, unless the patient's
    /// readings changed since (the page may predate the change) or the cache
    /// started over.
    pub fn insert(&self, patient: Uuid, range: ReadingRange, ticket: Ticket, body: Bytes, links: ReadingLinks) {
        if body.len() > self.budget_bytes {
            return;
        }
        let mut state = self.lock();
        if !state.listening || ticket.epoch != state.epoch {
            return;
        }
        if state.patients.get(&patient).is_some_and(|p| p.changed_at > ticket.changes) {
            return;
        }
        // Requests for ever new patients must not grow the bookkeeping
        // without bound either (the byte budget counts pages only).
        if state.patients.len() >= MAX_TRACKED_PATIENTS && !state.patients.contains_key(&patient) {
            Self::forget_all(&mut state);
            return;
        }
        // A page it replaces frees its room first.
        let replaced =
            state.patients.get_mut(&patient).and_then(|p| p.pages.remove(&range)).map_or(0, |old| old.body.len());
        state.bytes -= replaced;
        // Oldest patients first: a miss costs one query, so a simple order
        // that is O(1) per page beats a precise LRU under this lock.
        while state.bytes + body.len() > self.budget_bytes {
            let Some(victim) = state.eviction.pop_front() else { break };
            let freed = state.patients.get_mut(&victim).map_or(0, Patient::drop_pages);
            state.bytes -= freed;
        }
        state.bytes += body.len();
        let pages = &mut state.patients.entry(patient).or_default().pages;
        let first = pages.is_empty();
        pages.insert(range, Page { body, links, stored: Instant::now() });
        if first {
            state.eviction.push_back(patient);
            // Announcements empty patients without touching the queue, so a
            // patient may stand in it more than once; keep it proportionate.
            if state.eviction.len() > 2 * state.patients.len() + 64 {
                Self::compact(&mut state);
            }
        }
        self.metrics.bytes.set(state.bytes as i64);
    }

    /// Applies one announcement from the database.
    pub fn changed(&self, change: &ReadingsChanged) {
        // An admission changes no page of readings; a cache that is off
        // keeps no bookkeeping (the stream hears the same announcements).
        if !self.is_enabled() || matches!(change, ReadingsChanged::Heartbeat | ReadingsChanged::Admitted(_)) {
            return;
        }
        let mut state = self.lock();
        match change.patients() {
            None => Self::forget_all(&mut state),
            Some(patients) => {
                if state.patients.len() + patients.len() > MAX_TRACKED_PATIENTS {
                    Self::forget_all(&mut state);
                    return;
                }
                state.changes += 1;
                let now = state.changes;
                let mut freed = 0;
                for patient in patients {
                    let entry = state.patients.entry(patient).or_default();
                    entry.changed_at = now;
                    freed += entry.drop_pages();
                }
                state.bytes -= freed;
            }
        }
        self.metrics.bytes.set(state.bytes as i64);
        self.metrics.announcements.inc();
    }

    /// Whether announcements are being heard. Either way the cache starts
    /// over: what it held may have missed announcements.
    pub fn set_listening(&self, listening: bool) {
        let mut state = self.lock();
        state.listening = listening;
        Self::forget_all(&mut state);
        self.metrics.listening.set(i64::from(listening));
        if listening {
            self.metrics.listens.inc();
        }
        self.metrics.bytes.set(0);
    }

    fn forget_all(state: &mut State) {
        state.epoch += 1;
        state.patients.clear();
        state.eviction.clear();
        state.bytes = 0;
    }

    /// Keeps the last place of each patient that still has pages.
    fn compact(state: &mut State) {
        let mut seen = std::collections::HashSet::new();
        let patients = &state.patients;
        let mut kept: VecDeque<Uuid> = state
            .eviction
            .iter()
            .rev()
            .filter(|p| patients.get(p).is_some_and(|e| !e.pages.is_empty()) && seen.insert(**p))
            .copied()
            .collect();
        kept.make_contiguous().reverse();
        state.eviction = kept;
    }

    /// Whether the cache may hold anything (a zero budget turns it off).
    pub fn is_enabled(&self) -> bool {
        self.budget_bytes > 0
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // Poisoned only by a panic while held, and a panic ends the process
        // (telemetry::panic): there is no half-changed cache to carry on with.
        self.state.lock().expect("the page cache lock is never poisoned")
    }
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ResultLabel {
    result: &'static str,
}

/// The cache's Prometheus series.
#[derive(Debug, Clone, Default)]
pub struct CacheMetrics {
    lookups: Family<ResultLabel, Counter>,
    announcements: Counter,
    bytes: Gauge,
    listening: Gauge,
    listens: Counter,
}

impl CacheMetrics {
    pub fn register(registry: &mut Registry) -> CacheMetrics {
        let m = CacheMetrics::default();
        registry.register(
            "icu_page_cache_lookups",
            "Pages of readings looked up, by hit, miss or bypass",
            m.lookups.clone(),
        );
        registry.register(
            "icu_page_cache_announcements",
            "Changes to readings announced by the database",
            m.announcements.clone(),
        );
        registry.register("icu_page_cache_bytes", "Bytes of cached page bodies", m.bytes.clone());
        registry.register(
            "icu_page_cache_listening",
            "1 while the database's announcements are heard (pages are cached only then)",
            m.listening.clone(),
        );
        registry.register(
            "icu_page_cache_listens",
            "Connections that started listening for announcements (more than one: reconnections)",
            m.listens.clone(),
        );
        m
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn range(limit: u32) -> ReadingRange {
        ReadingRange { from: None, before: None, limit }
    }

    fn listening_cache(budget: usize) -> PageCache {
        let cache = PageCache::new(budget, Duration::from_secs(60), CacheMetrics::default());
        cache.set_listening(true);
        cache
    }

    fn ticket(cache: &PageCache, patient: Uuid, r: &ReadingRange) -> Ticket {
        match cache.lookup(patient, r) {
            Lookup::Miss(ticket) => ticket,
            other => panic!("expected a miss, got {other:?}"),
        }
    }

    fn is_hit(cache: &PageCache, patient: Uuid, r: &ReadingRange) -> bool {
        matches!(cache.lookup(patient, r), Lookup::Hit(..))
    }

    #[test]
    fn a_page_stored_after_a_miss_is_served_until_its_patient_changes() {
        let cache = listening_cache(1 << 20);
        let (a, b) = (Uuid::new_v4(), Uuid::new_v4());
        let t = ticket(&cache, a, &range(101));
        cache.insert(a, range(101), t, Bytes::from_static(b"page of a"), ReadingLinks::default());
        let t = ticket(&cache, b, &range(101));
        cache.insert(b, range(101), t, Bytes::from_static(b"page of b"), ReadingLinks::default());
        match cache.lookup(a, &range(101)) {
            Lookup::Hit(body, _) => assert_eq!(&body[..], b"page of a"),
            other => panic!("expected a hit, got {other:?}"),
        }
        assert!(!is_hit(&cache, a, &range(11)), "another range of the same patient is another page");

        cache.changed(&ReadingsChanged::Patients(vec![a]));
        assert!(!is_hit(&cache, a, &range(101)));
        assert!(is_hit(&cache, b, &range(101)), "other patients keep their pages");
    }

    #[test]
    fn a_page_read_before_a_change_is_not_kept_after_it() {
        let cache = listening_cache(1 << 20);
        let a = Uuid::new_v4();
        // The query starts, the change commits and is announced, then the
        // (now stale) page comes back: even for a patient the cache never saw.
        let before = ticket(&cache, a, &range(101));
        cache.changed(&ReadingsChanged::Patients(vec![a]));
        cache.insert(a, range(101), before, Bytes::from_static(b"stale"), ReadingLinks::default());
        assert!(!is_hit(&cache, a, &range(101)));

        let after = ticket(&cache, a, &range(101));
        cache.insert(a, range(101), after, Bytes::from_static(b"fresh"), ReadingLinks::default());
        assert!(is_hit(&cache, a, &range(101)));
    }

    #[test]
    fn everything_is_forgotten_on_truncate_and_on_reconnection() {
        let cache = listening_cache(1 << 20);
        let a = Uuid::new_v4();
        let t = ticket(&cache, a, &range(101));
        cache.changed(&ReadingsChanged::All);
        cache.insert(a, range(101), t, Bytes::from_static(b"stale"), ReadingLinks::default());
        assert!(!is_hit(&cache, a, &range(101)), "a ticket from before `All` is void");

        let t = ticket(&cache, a, &range(101));
        cache.insert(a, range(101), t, Bytes::from_static(b"page"), ReadingLinks::default());
        assert!(is_hit(&cache, a, &range(101)));
        cache.set_listening(false);
        assert!(matches!(cache.lookup(a, &range(101)), Lookup::Bypass), "not listening: no caching");
        cache.insert(a, range(101), t, Bytes::from_static(b"page"), ReadingLinks::default());
        cache.set_listening(true);
        assert!(!is_hit(&cache, a, &range(101)), "a reconnection starts from nothing");
        cache.insert(a, range(101), t, Bytes::from_static(b"page"), ReadingLinks::default());
        assert!(!is_hit(&cache, a, &range(101)), "a ticket from before the reconnection is void");
    }

    #[test]
    fn the_budget_is_kept_by_dropping_other_pages() {
        let cache = listening_cache(100);
        let patients: Vec<Uuid> = (0..5).map(|_| Uuid::new_v4()).collect();
        for p in &patients {
            let t = ticket(&cache, *p, &range(101));
            cache.insert(*p, range(101), t, Bytes::from(vec![b'x'; 40]), ReadingLinks::default());
            assert!(cache.lock().bytes <= 100);
        }
        let cached: Vec<bool> = patients.iter().map(|p| is_hit(&cache, *p, &range(101))).collect();
        assert_eq!(cached, [false, false, false, true, true], "two pages of 40 bytes fit in 100, the oldest go");

        let t = ticket(&cache, patients[0], &range(7));
        cache.insert(patients[0], range(7), t, Bytes::from(vec![b'x'; 101]), ReadingLinks::default());
        assert!(!is_hit(&cache, patients[0], &range(7)), "a page larger than the budget is not kept");
    }

    #[test]
    fn replacing_a_page_does_not_evict_others() {
        let cache = listening_cache(80);
        let (a, b) = (Uuid::new_v4(), Uuid::new_v4());
        for p in [a, b, b] {
            // A miss on `b` after its page expired or was refreshed elsewhere.
            let t = match cache.lookup(p, &range(101)) {
                Lookup::Miss(t) => t,
                _ => ticket(&cache, Uuid::new_v4(), &range(101)),
            };
            cache.insert(p, range(101), t, Bytes::from(vec![b'x'; 40]), ReadingLinks::default());
        }
        assert!(is_hit(&cache, a, &range(101)), "a's page still fits beside b's");
        assert_eq!(cache.lock().bytes, 80);
    }

    #[test]
    fn the_eviction_order_stays_proportionate_while_announcements_churn() {
        let cache = listening_cache(1 << 20);
        let patients: Vec<Uuid> = (0..10).map(|_| Uuid::new_v4()).collect();
        for _ in 0..1000 {
            for p in &patients {
                let t = ticket(&cache, *p, &range(101));
                cache.insert(*p, range(101), t, Bytes::from_static(b"page"), ReadingLinks::default());
            }
            cache.changed(&ReadingsChanged::Patients(patients.clone()));
        }
        let state = cache.lock();
        assert!(state.eviction.len() <= 2 * state.patients.len() + 64 + 1, "{} entries", state.eviction.len());
    }

    #[test]
    fn requests_for_ever_new_patients_do_not_grow_the_bookkeeping_without_bound() {
        let cache = listening_cache(1 << 30);
        for _ in 0..=MAX_TRACKED_PATIENTS {
            let p = Uuid::new_v4();
            let t = ticket(&cache, p, &range(101));
            cache.insert(p, range(101), t, Bytes::from_static(b"x"), ReadingLinks::default());
        }
        assert!(cache.lock().patients.len() <= MAX_TRACKED_PATIENTS);
    }

    #[test]
    fn pages_expire_and_a_zero_budget_turns_the_cache_off() {
        let cache = PageCache::new(1 << 20, Duration::ZERO, CacheMetrics::default());
        cache.set_listening(true);
        let a = Uuid::new_v4();
        let t = ticket(&cache, a, &range(101));
        cache.insert(a, range(101), t, Bytes::from_static(b"page"), ReadingLinks::default());
        std::thread::sleep(Duration::from_millis(2));
        assert!(!is_hit(&cache, a, &range(101)));
        assert_eq!(cache.lock().bytes, 0, "an expired page frees its bytes");

        let off = PageCache::new(0, Duration::from_secs(60), CacheMetrics::default());
        off.set_listening(true);
        assert!(matches!(off.lookup(a, &range(101)), Lookup::Bypass));
    }
}
