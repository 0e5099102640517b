//! One task drives the whole ward. Patient `i` of `n` reads at
//! `k·interval + i·interval/n`: phases are spread evenly over the interval, so
//! ten thousand patients are a steady trickle rather than a burst, and due
//! times are computed from the start, never by adding sleeps, so they do not
//! drift however late one wake-up runs. A reading's timestamp is its due time.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, DurationRound, TimeDelta, Utc};
use rand_chacha::ChaCha8Rng;
use tokio::time::Instant;
use vitals::{News2, Reading, ReadingMessage};

use crate::metrics::{BandLabel, Metrics};
use crate::physiology::Physiology;
use crate::publisher::Publisher;
use crate::ward::Ward;

/// When each reading is due, relative to the start.
#[derive(Debug, Clone, Copy)]
pub struct Schedule {
    interval_nanos: u128,
    patients: u64,
}

impl Schedule {
    pub fn new(interval: Duration, patients: usize) -> Schedule {
        Schedule { interval_nanos: interval.as_nanos().max(1), patients: (patients as u64).max(1) }
    }

    /// The `seq`-th reading of the ward: which patient, and when, counted in
    /// whole nanoseconds from the start so no rounding accumulates.
    pub fn due(&self, seq: u64) -> (usize, Duration) {
        let (round, patient) = (seq / self.patients, seq % self.patients);
        let nanos = u128::from(round) * self.interval_nanos
            + u128::from(patient) * self.interval_nanos / u128::from(self.patients);
        let nanos = u64::try_from(nanos).unwrap_or(u64::MAX);
        (patient as usize, Duration::from_nanos(nanos))
    }
}

/// At most this many readings per wake-up, so a long stall (a suspended
/// laptop) catches up in slices and shutdown stays responsive.
const MAX_PER_WAKE: usize = 50_000;

pub struct Emulator {
    pub ward: Arc<Ward>,
    pub publisher: Arc<Publisher>,
    pub metrics: Metrics,
    pub interval: Duration,
    pub vitals_topic: String,
}

impl Emulator {
    /// Generates and queues readings until `shutdown` resolves. Returns the
    /// number of readings generated.
    pub async fn run(self, shutdown: impl Future<Output = ()>) -> u64 {
        let schedule = Schedule::new(self.interval, self.ward.len());
        let mut patients: Vec<(Physiology, ChaCha8Rng)> = (0..self.ward.len())
            .map(|i| {
                let mut rng = self.ward.rng(i);
                (Physiology::new(self.ward.condition(i), &mut rng), rng)
            })
            .collect();
        let dt = self.interval.as_secs_f64();
        let start = Instant::now();
        let start_wall = Utc::now();
        let mut seq = 0u64;
        tokio::pin!(shutdown);
        loop {
            let (_, next) = schedule.due(seq);
            tokio::select! {
                biased;
                () = &mut shutdown => break,
                () = tokio::time::sleep_until(start + next) => {}
            }
            let now = Instant::now();
            self.metrics.lateness.observe(now.saturating_duration_since(start + next).as_secs_f64());
            for _ in 0..MAX_PER_WAKE {
                let (index, offset) = schedule.due(seq);
                if start + offset > now {
                    break;
                }
                let (physiology, rng) = &mut patients[index];
                self.emit(index, physiology, rng, dt, measured_at(start_wall, offset));
                seq += 1;
            }
        }
        seq
    }

    fn emit(&self, index: usize, physiology: &mut Physiology, rng: &mut ChaCha8Rng, dt: f64, at: DateTime<Utc>) {
        // A stopped monitor measures nothing and sends nothing; the patient
        // carries on from where they were when it starts again.
        if !self.ward.monitor_running(index) {
            return;
        }
        physiology.set_condition(self.ward.condition(index));
        let vitals = physiology.step(dt, rng);
        let patient = &self.ward.patients()[index];
        let reading = Reading {
            patient: patient.uuid,
            name: Some(patient.name.clone()),
            measured_at: at,
            pulse: vitals.pulse,
            resp_rate: vitals.resp_rate,
            bp: vitals.bp,
            spo2: vitals.spo2,
            temperature: vitals.temperature,
            on_oxygen: Some(vitals.on_oxygen),
            acvpu: Some(vitals.acvpu),
        };
        let band = News2::of(&reading).band.as_str();
        self.metrics.readings.get_or_create(&BandLabel { band }).inc();
        let payload = ReadingMessage::from(&reading).encode();
        self.publisher.send_or_count(&self.vitals_topic, patient.uuid, &payload);
    }
}

/// Wall-clock time of a due offset, to the millisecond (what monitors send,
/// and what every store keeps exactly).
fn measured_at(start: DateTime<Utc>, offset: Duration) -> DateTime<Utc> {
    let at = start + TimeDelta::from_std(offset).unwrap_or(TimeDelta::MAX);
    at.duration_trunc(TimeDelta::milliseconds(1)).unwrap_or(at)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phases_spread_evenly_and_rounds_do_not_drift() {
        let s = Schedule::new(Duration::from_millis(1000), 4);
        let first: Vec<_> = (0..5).map(|seq| s.due(seq)).collect();
        assert_eq!(
            first,
            vec![
                (0, Duration::ZERO),
                (1, Duration::from_millis(250)),
                (2, Duration::from_millis(500)),
                (3, Duration::from_millis(750)),
                (0, Duration::from_millis(1000)),
            ]
        );
        // One day of a 10,000-bed ward at 1/3 s: the millionth round is due
        // exactly a million intervals after the start.
        let s = Schedule::new(Duration::from_nanos(333_333_333), 10_000);
        assert_eq!(s.due(1_000_000 * 10_000), (0, Duration::from_nanos(333_333_333 * 1_000_000)));
    }

    #[test]
    fn timestamps_are_whole_milliseconds() {
        let start = DateTime::parse_from_rfc3339("2026-01-01T00:00:00.123456789Z").unwrap().to_utc();
        let at = measured_at(start, Duration::from_micros(1_500));
        assert_eq!(at.to_rfc3339(), "2026-01-01T00:00:00.124+00:00");
    }
}
