//! The default root sampler: at most so many new traces a second, per
//! process, whatever the load. A share (`traceidratio`) makes tracing cost
//! grow with the ward: 10 % of a 10,000-bed ward's readings is 1,000 traces
//! a second, which cost the emulator 15 % of its CPU (BENCHMARKS.md,
//! tracing cost), while 10 % of a demo ward of eight beds is a trace every
//! ten seconds. A budget traces a small ward whole and a large one at a
//! fixed cost. `OTEL_TRACES_SAMPLER` still picks any standard sampler.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Instant;

use opentelemetry::trace::{Link, SamplingDecision, SamplingResult, SpanKind, TraceContextExt as _, TraceId};
use opentelemetry::{Context, KeyValue};
use opentelemetry_sdk::trace::ShouldSample;

/// Samples a new trace while the budget allows: a token bucket that refills
/// at `per_second` and holds one second's worth, so a burst (the emulator
/// admitting its ward at start) takes at most that many before the rate holds.
/// Copies share the budget: the SDK keeps one in the provider and the ward
/// one for the decisions it makes first (`messaging::SendSpan`), and
/// together they make one budget per process.
#[derive(Clone)]
pub struct RateLimited {
    per_second: f64,
    bucket: Arc<Mutex<Bucket>>,
}

impl std::fmt::Debug for RateLimited {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RateLimited").field("per_second", &self.per_second).finish()
    }
}

impl RateLimited {
    pub fn new(per_second: f64) -> RateLimited {
        let per_second = if per_second.is_finite() { per_second.max(0.0) } else { 0.0 };
        RateLimited { per_second, bucket: Arc::new(Mutex::new(Bucket::full(per_second, Instant::now()))) }
    }

    pub fn per_second(&self) -> f64 {
        self.per_second
    }

    fn take(&self) -> bool {
        // A panic elsewhere while the lock was held left a consistent
        // bucket (two numbers): keep sampling.
        self.bucket.lock().unwrap_or_else(PoisonError::into_inner).take(self.per_second, Instant::now())
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
        let decision = if self.take() { SamplingDecision::RecordAndSample } else { SamplingDecision::Drop };
        SamplingResult {
            decision,
            attributes: Vec::new(),
            // As the SDK's own samplers: the parent's trace state, if any.
            trace_state: parent_context.map(|cx| cx.span().span_context().trace_state().clone()).unwrap_or_default(),
        }
    }
}

#[derive(Debug)]
struct Bucket {
    tokens: f64,
    at: Instant,
}

impl Bucket {
    fn full(per_second: f64, now: Instant) -> Bucket {
        Bucket { tokens: per_second.max(1.0), at: now }
    }

    fn take(&mut self, per_second: f64, now: Instant) -> bool {
        let elapsed = now.saturating_duration_since(self.at).as_secs_f64();
        self.tokens = (self.tokens + elapsed * per_second).min(per_second.max(1.0));
        self.at = now.max(self.at);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn taken(bucket: &mut Bucket, per_second: f64, at: Instant, tries: usize) -> usize {
        (0..tries).filter(|_| bucket.take(per_second, at)).count()
    }

    #[test]
    fn a_burst_takes_one_seconds_budget_then_the_rate_holds() {
        let start = Instant::now();
        let mut bucket = Bucket::full(10.0, start);
        assert_eq!(taken(&mut bucket, 10.0, start, 1_000), 10);
        // Half a second refills half the budget, however many ask.
        assert_eq!(taken(&mut bucket, 10.0, start + Duration::from_millis(500), 1_000), 5);
        // A long quiet spell refills one second's worth, never more.
        assert_eq!(taken(&mut bucket, 10.0, start + Duration::from_secs(3_600), 1_000), 10);
    }

    #[test]
    fn over_a_minute_of_steady_load_the_count_is_the_rate() {
        let start = Instant::now();
        let mut bucket = Bucket::full(10.0, start);
        // 10,000 asks a second for 60 s: 10 a second, plus the first second's burst.
        let sampled: usize =
            (1..=60_000_u64).map(|ms| taken(&mut bucket, 10.0, start + Duration::from_millis(ms), 10)).sum();
        assert!((600..=610).contains(&sampled), "{sampled}");
    }

    #[test]
    fn a_clock_that_does_not_move_forward_adds_nothing() {
        let start = Instant::now();
        let later = start + Duration::from_secs(1);
        let mut bucket = Bucket::full(2.0, later);
        assert_eq!(taken(&mut bucket, 2.0, later, 5), 2);
        // An earlier instant (another thread's, read before the lock) refills nothing.
        assert_eq!(taken(&mut bucket, 2.0, start, 5), 0);
        assert_eq!(taken(&mut bucket, 2.0, later + Duration::from_millis(500), 5), 1);
    }

    #[test]
    fn a_rate_below_one_a_second_still_samples_now_and_then() {
        let start = Instant::now();
        let mut bucket = Bucket::full(0.5, start);
        assert_eq!(taken(&mut bucket, 0.5, start, 5), 1);
        assert_eq!(taken(&mut bucket, 0.5, start + Duration::from_secs(1), 5), 0);
        assert_eq!(taken(&mut bucket, 0.5, start + Duration::from_secs(2), 5), 1);
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
        let sampled = [&sampler, &copy, &sampler, &copy, &sampler, &copy].iter().filter(|s| s.take()).count();
        assert_eq!(sampled, 3);
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
