//! The default root sampler: at most so many new traces a second, per
//! process, whatever the load. A share (`traceidratio`) makes tracing cost
//! grow with the ward: 10 % of a 10,000-bed ward's readings is 1,000 traces
//! a second, which cost the emulator 15 % of its CPU (BENCHMARKS.md,
//! tracing cost), while 10 % of a demo ward of eight beds is a trace every
//! ten seconds. A budget traces a small ward whole and a large one at a
//! fixed cost. `OTEL_TRACES_SAMPLER` still picks any standard sampler.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use opentelemetry::trace::{Link, SamplingDecision, SamplingResult, SpanKind, TraceContextExt as _, TraceId};
use opentelemetry::{Context, KeyValue};
use opentelemetry_sdk::trace::ShouldSample;

/// Samples a new trace while the budget allows: `per_second` a second, and
/// a burst (the emulator admitting its ward at start) of at most one
/// second's worth before the rate holds. Copies share the budget: the SDK
/// keeps one in the provider and the ward one for the decisions it makes
/// first (`messaging::SendSpan`), and together they make one budget per
/// process.
#[derive(Clone)]
pub struct RateLimited {
    per_second: f64,
    budget: Arc<Budget>,
}

impl std::fmt::Debug for RateLimited {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RateLimited").field("per_second", &self.per_second).finish()
    }
}

impl RateLimited {
    pub fn new(per_second: f64) -> RateLimited {
        let per_second = if per_second.is_finite() { per_second.max(0.0) } else { 0.0 };
        RateLimited { per_second, budget: Arc::new(Budget::new(per_second)) }
    }
}

impl ShouldSample for RateLimited {
    fn should_sample(
        &self,
        parent_context: Option<&Context>,
        _trace_id: TraceId,
        _name: &str,
        _span_kind: &SpanKind,
        _attributes: &[KeyValue],
        _links: &[Link],
    ) -> SamplingResult {
        let decision = if self.budget.take() { SamplingDecision::RecordAndSample } else { SamplingDecision::Drop };
        SamplingResult {
            decision,
            attributes: Vec::new(),
            // As the SDK's own samplers: the parent's trace state, if any.
            trace_state: parent_context.map(|cx| cx.span().span_context().trace_state().clone()).unwrap_or_default(),
        }
    }
}

/// The generic cell rate algorithm: one number, the time (in nanoseconds
/// from `start`) at which the budget is whole again. A decision is a clock
/// read and one atomic load while the budget is spent, as it is for all but
/// a few of a large ward's readings; no lock.
#[derive(Debug)]
struct Budget {
    start: Instant,
    /// Nanoseconds one sample uses up (`u64::MAX`: a rate of nothing).
    interval: u64,
    /// How far ahead of now the budget may be spent: one second's worth, less one.
    tolerance: u64,
    whole_at: AtomicU64,
}

impl Budget {
    fn new(per_second: f64) -> Budget {
        let interval = if per_second > 0.0 { (1e9 / per_second).min(u64::MAX as f64) as u64 } else { u64::MAX };
        let burst = per_second.max(1.0).floor() as u64;
        let tolerance = interval.saturating_mul(burst - 1);
        Budget { start: Instant::now(), interval, tolerance, whole_at: AtomicU64::new(0) }
    }

    fn take(&self) -> bool {
        let now = u64::try_from(self.start.elapsed().as_nanos()).unwrap_or(u64::MAX);
        let mut whole_at = self.whole_at.load(Ordering::Relaxed);
        loop {
            let Some(next) = admit(whole_at, now, self.interval, self.tolerance) else { return false };
            match self.whole_at.compare_exchange_weak(whole_at, next, Ordering::Relaxed, Ordering::Relaxed) {
                Ok(_) => return true,
                Err(current) => whole_at = current,
            }
        }
    }
}

/// Whether a sample fits at `now`, and if so when the budget is whole again.
fn admit(whole_at: u64, now: u64, interval: u64, tolerance: u64) -> Option<u64> {
    if whole_at > now.saturating_add(tolerance) {
        return None;
    }
    Some(whole_at.max(now).saturating_add(interval))
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECOND: u64 = 1_000_000_000;

    /// How many of `tries` samples at `now` the budget admits.
    fn admitted(whole_at: &mut u64, per_second: f64, now: u64, tries: usize) -> usize {
        let budget = Budget::new(per_second);
        (0..tries)
            .filter(|_| match admit(*whole_at, now, budget.interval, budget.tolerance) {
                Some(next) => {
                    *whole_at = next;
                    true
                }
                None => false,
            })
            .count()
    }

    #[test]
    fn a_burst_takes_one_seconds_budget_then_the_rate_holds() {
        let mut whole_at = 0;
        assert_eq!(admitted(&mut whole_at, 10.0, 0, 1_000), 10);
        // Half a second gives back half the budget, however many ask.
        assert_eq!(admitted(&mut whole_at, 10.0, SECOND / 2, 1_000), 5);
        // A long quiet spell gives back one second's worth, never more.
        assert_eq!(admitted(&mut whole_at, 10.0, 3_600 * SECOND, 1_000), 10);
    }

    #[test]
    fn over_a_minute_of_steady_load_the_count_is_the_rate() {
        let mut whole_at = 0;
        // 10,000 asks a second for 60 s: 10 a second, plus the first second's burst.
        let sampled: usize = (1..=60_000_u64).map(|ms| admitted(&mut whole_at, 10.0, ms * 1_000_000, 10)).sum();
        assert!((600..=610).contains(&sampled), "{sampled}");
    }

    #[test]
    fn a_clock_read_late_gives_nothing_back() {
        let mut whole_at = 0;
        assert_eq!(admitted(&mut whole_at, 2.0, SECOND, 5), 2);
        // An earlier instant (another thread's, read before this one's) gives nothing back.
        assert_eq!(admitted(&mut whole_at, 2.0, 0, 5), 0);
        assert_eq!(admitted(&mut whole_at, 2.0, SECOND + SECOND / 2, 5), 1);
    }

    #[test]
    fn a_rate_below_one_a_second_still_samples_now_and_then() {
        let mut whole_at = 0;
        assert_eq!(admitted(&mut whole_at, 0.5, 0, 5), 1);
        assert_eq!(admitted(&mut whole_at, 0.5, SECOND, 5), 0);
        assert_eq!(admitted(&mut whole_at, 0.5, 2 * SECOND, 5), 1);
    }

    #[test]
    fn a_sampled_parent_is_followed_and_roots_are_limited() {
        use opentelemetry::trace::{SpanContext, SpanId, TraceFlags, TraceState};
        use opentelemetry_sdk::trace::Sampler;
        let sampler = Sampler::ParentBased(Box::new(RateLimited::new(1.0)));
        let decide = |parent: Option<&Context>| {
            sampler.should_sample(parent, TraceId::from(1_u128), "send", &SpanKind::Producer, &[], &[]).decision
        };
        assert_eq!(decide(None), SamplingDecision::RecordAndSample);
        assert_eq!(decide(None), SamplingDecision::Drop);
        let parent = |flags| {
            let span = SpanContext::new(TraceId::from(7_u128), SpanId::from(9_u64), flags, true, TraceState::NONE);
            Context::new().with_remote_span_context(span)
        };
        // The budget is spent, but a downstream service follows the producer's decision.
        assert_eq!(decide(Some(&parent(TraceFlags::SAMPLED))), SamplingDecision::RecordAndSample);
        assert_eq!(decide(Some(&parent(TraceFlags::default()))), SamplingDecision::Drop);
    }

    #[test]
    fn copies_share_one_budget() {
        let sampler = RateLimited::new(3.0);
        let copy = sampler.clone();
        let sampled = [&sampler, &copy, &sampler, &copy, &sampler, &copy].iter().filter(|s| s.budget.take()).count();
        assert_eq!(sampled, 3);
    }

    #[test]
    fn threads_at_once_take_no_more_than_the_budget() {
        let sampler = RateLimited::new(100.0);
        let taken: usize = std::thread::scope(|scope| {
            let workers: Vec<_> =
                (0..4).map(|_| scope.spawn(|| (0..10_000).filter(|_| sampler.budget.take()).count())).collect();
            workers.into_iter().map(|w| w.join().unwrap()).sum()
        });
        // The burst, plus what the time the threads took gave back (well under a second).
        assert!((100..200).contains(&taken), "{taken}");
    }

    #[test]
    fn nonsense_rates_sample_nothing_rather_than_everything() {
        for rate in [f64::NAN, f64::INFINITY, -5.0, 0.0] {
            let sampler = RateLimited::new(rate);
            let sampled = (0..100)
                .filter(|_| {
                    let result = sampler.should_sample(None, TraceId::from(1_u128), "x", &SpanKind::Internal, &[], &[]);
                    result.decision == SamplingDecision::RecordAndSample
                })
                .count();
            assert!(sampled <= 1, "{rate}: {sampled}");
        }
    }
}
