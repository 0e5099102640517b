//! How one patient's vital signs move.
//!
//! Each signal is an Ornstein–Uhlenbeck process: it drifts randomly but is
//! pulled back towards a target, so values wander like a real trace without
//! running away. The targets come from the patient's own baseline, their
//! condition, and the other signals (the coupling below), which is what makes
//! the signals move together as they do at a bedside: a fever drags pulse and
//! respiratory rate up a few minutes later, falling saturation makes the
//! patient breathe faster, falling pressure makes the heart race.

use rand::Rng;
use rand_distr::StandardNormal;
use vitals::{Acvpu, BloodPressure, Condition};

/// The six signals, in model units (floating point; rounded on output).
#[derive(Debug, Clone, Copy, PartialEq)]
struct Signals {
    pulse: f64,
    resp_rate: f64,
    systolic: f64,
    diastolic: f64,
    spo2: f64,
    temperature: f64,
}

/// One reading's worth of vital signs, as a monitor would display them.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Vitals {
    pub pulse: u16,
    pub resp_rate: u16,
    pub bp: BloodPressure,
    pub spo2: u8,
    pub temperature: f64,
    pub on_oxygen: bool,
    pub acvpu: Acvpu,
}

/// Seconds for a signal to close about 63 % of the gap to its target.
const TIME_CONSTANT: Signals =
    Signals { pulse: 90.0, resp_rate: 120.0, systolic: 180.0, diastolic: 180.0, spo2: 120.0, temperature: 900.0 };
/// Spread of the slow wander around the target (stationary standard deviation).
const WANDER: Signals =
    Signals { pulse: 4.0, resp_rate: 1.5, systolic: 6.0, diastolic: 4.0, spo2: 0.8, temperature: 0.15 };
/// Beat-to-beat measurement jitter added to each displayed reading.
const JITTER: Signals =
    Signals { pulse: 1.5, resp_rate: 0.7, systolic: 2.0, diastolic: 1.5, spo2: 0.4, temperature: 0.03 };

/// Emulated seconds for sepsis to go from early to fully developed.
pub const SEPSIS_ONSET_SECS: f64 = 45.0 * 60.0;
/// How far an untreated sepsis has progressed when it is first noticed.
const SEPSIS_START: f64 = 0.25;

#[derive(Debug, Clone)]
pub struct Physiology {
    condition: Condition,
    /// This patient's healthy values.
    baseline: Signals,
    now: Signals,
    /// Emulated seconds since the current condition began.
    in_condition: f64,
}

impl Physiology {
    /// A patient with an individual baseline, already showing `condition`.
    pub fn new(condition: Condition, rng: &mut impl Rng) -> Self {
        let mut jitter = |sd: f64| sd * rng.sample::<f64, _>(StandardNormal);
        let baseline = Signals {
            pulse: 74.0 + jitter(6.0),
            resp_rate: 15.0 + jitter(1.2),
            systolic: 122.0 + jitter(8.0),
            diastolic: 0.0,
            spo2: 97.5 + jitter(0.6),
            temperature: 36.9 + jitter(0.2),
        };
        let baseline = Signals { diastolic: baseline.systolic * 0.64 + jitter(3.0), ..baseline };
        let mut patient = Physiology { condition, baseline, now: baseline, in_condition: 0.0 };
        // Start at the condition's steady state (the coupled targets settle in
        // a few rounds), so an abnormal patient is abnormal from the first reading.
        for _ in 0..8 {
            patient.now = patient.targets();
        }
        patient
    }

    /// Changes the condition; the signals then move towards it at their own pace.
    pub fn set_condition(&mut self, condition: Condition) {
        if condition != self.condition {
            self.condition = condition;
            self.in_condition = 0.0;
        }
    }

    /// How far a sepsis has progressed, 0 (none) to 1 (fully developed).
    pub fn sepsis_severity(&self) -> f64 {
        match self.condition {
            Condition::Sepsis => (SEPSIS_START + self.in_condition / SEPSIS_ONSET_SECS).min(1.0),
            _ => 0.0,
        }
    }

    /// Advances the patient by `dt` seconds and returns what the monitor shows.
    pub fn step(&mut self, dt: f64, rng: &mut impl Rng) -> Vitals {
        self.in_condition += dt;
        let target = self.targets();
        let mut normal = || rng.sample::<f64, _>(StandardNormal);
        // Exact discretisation of the OU process: any dt gives the same statistics.
        let mut advance = |now: f64, target: f64, tau: f64, wander: f64| {
            let keep = (-dt / tau).exp();
            target + (now - target) * keep + wander * (1.0 - keep * keep).sqrt() * normal()
        };
        self.now = Signals {
            pulse: advance(self.now.pulse, target.pulse, TIME_CONSTANT.pulse, WANDER.pulse),
            resp_rate: advance(self.now.resp_rate, target.resp_rate, TIME_CONSTANT.resp_rate, WANDER.resp_rate),
            systolic: advance(self.now.systolic, target.systolic, TIME_CONSTANT.systolic, WANDER.systolic),
            diastolic: advance(self.now.diastolic, target.diastolic, TIME_CONSTANT.diastolic, WANDER.diastolic),
            spo2: advance(self.now.spo2, target.spo2, TIME_CONSTANT.spo2, WANDER.spo2),
            temperature: advance(
                self.now.temperature,
                target.temperature,
                TIME_CONSTANT.temperature,
                WANDER.temperature,
            ),
        };
        self.display(rng)
    }

    /// Where each signal is pulled to now.
    fn targets(&self) -> Signals {
        let base = self.baseline;
        let mut t = base;
        match self.condition {
            Condition::Stable => {}
            Condition::Tachycardia => t.pulse += 52.0,
            Condition::Bradycardia => t.pulse = 42.0 + (base.pulse - 74.0) * 0.3,
            Condition::Hypotension => {
                t.systolic -= 38.0;
                t.diastolic -= 24.0;
            }
            Condition::Hypoxia => t.spo2 -= 9.5,
            Condition::Fever => t.temperature += 2.3,
            Condition::Sepsis => {
                let s = self.sepsis_severity();
                t.temperature += 2.6 * s;
                t.systolic -= 48.0 * s;
                t.diastolic -= 28.0 * s;
                t.spo2 -= 8.0 * s;
            }
        }
        // The coupling reads the current state, so responses lag their cause.
        let fever = (self.now.temperature - 37.2).max(0.0);
        let desaturation = (95.0 - self.now.spo2).max(0.0);
        let shock = (base.systolic - 10.0 - self.now.systolic).max(0.0);
        t.pulse += 10.0 * fever + 1.2 * desaturation + 0.8 * shock;
        t.resp_rate += 2.5 * fever + 1.0 * desaturation + 0.15 * shock;
        t
    }

    /// Rounds the state to what a monitor displays, with measurement jitter,
    /// kept inside what a real monitor can show (always valid readings).
    fn display(&self, rng: &mut impl Rng) -> Vitals {
        let mut jitter = |value: f64, sd: f64| value + sd * rng.sample::<f64, _>(StandardNormal);
        let pulse = jitter(self.now.pulse, JITTER.pulse).round().clamp(25.0, 250.0) as u16;
        let resp_rate = jitter(self.now.resp_rate, JITTER.resp_rate).round().clamp(4.0, 60.0) as u16;
        let systolic = jitter(self.now.systolic, JITTER.systolic).round().clamp(50.0, 250.0) as u16;
        let diastolic = jitter(self.now.diastolic, JITTER.diastolic).round().clamp(25.0, f64::from(systolic) - 15.0);
        let spo2 = jitter(self.now.spo2, JITTER.spo2).round().clamp(60.0, 100.0) as u8;
        let temperature = (jitter(self.now.temperature, JITTER.temperature) * 10.0).round().clamp(320.0, 430.0) / 10.0;
        let severity = self.sepsis_severity();
        Vitals {
            pulse,
            resp_rate,
            bp: BloodPressure::new(systolic, diastolic as u16),
            spo2,
            temperature,
            // A desaturating patient gets oxygen, as a nurse would give it.
            on_oxygen: self.condition == Condition::Hypoxia || severity > 0.6,
            acvpu: if severity > 0.85 { Acvpu::C } else { Acvpu::A },
        }
    }
}

#[cfg(test)]
mod tests {
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;
    use vitals::reading::limits;

    use super::*;

    /// Mean of each displayed signal over `steps` readings `dt` apart.
    fn run(condition: Condition, seed: u64, steps: usize, dt: f64) -> Vec<Vitals> {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let mut p = Physiology::new(condition, &mut rng);
        (0..steps).map(|_| p.step(dt, &mut rng)).collect()
    }

    struct Means {
        pulse: f64,
        resp_rate: f64,
        systolic: f64,
        spo2: f64,
        temperature: f64,
    }

    fn means(readings: &[Vitals]) -> Means {
        let n = readings.len() as f64;
        let avg = |f: &dyn Fn(&Vitals) -> f64| readings.iter().map(f).sum::<f64>() / n;
        Means {
            pulse: avg(&|v| f64::from(v.pulse)),
            resp_rate: avg(&|v| f64::from(v.resp_rate)),
            systolic: avg(&|v| f64::from(v.bp.systolic)),
            spo2: avg(&|v| f64::from(v.spo2)),
            temperature: avg(&|v| v.temperature),
        }
    }

    /// Averaged over several patients, so one patient's baseline cannot decide.
    fn ward_means(condition: Condition) -> Means {
        let readings: Vec<Vitals> = (0..20).flat_map(|seed| run(condition, seed, 500, 5.0)).collect();
        means(&readings)
    }

    #[test]
    fn every_reading_is_valid_for_every_condition() {
        for condition in Condition::ALL {
            for seed in 0..10 {
                for v in run(condition, seed, 2_000, 5.0) {
                    assert!((limits::PULSE.0..=limits::PULSE.1).contains(&v.pulse), "{condition}: {v:?}");
                    assert!((limits::RESP_RATE.0..=limits::RESP_RATE.1).contains(&v.resp_rate), "{v:?}");
                    assert!(v.bp.diastolic < v.bp.systolic, "{condition}: {v:?}");
                    assert!(v.spo2 <= 100, "{v:?}");
                    assert!((limits::TEMPERATURE.0..=limits::TEMPERATURE.1).contains(&v.temperature), "{v:?}");
                    assert_eq!(v.temperature, (v.temperature * 10.0).round() / 10.0, "one decimal: {v:?}");
                }
            }
        }
    }

    #[test]
    fn stable_patients_stay_within_normal_limits_on_average() {
        let m = ward_means(Condition::Stable);
        assert!((60.0..=90.0).contains(&m.pulse), "pulse {}", m.pulse);
        assert!((12.0..=20.0).contains(&m.resp_rate), "resp_rate {}", m.resp_rate);
        assert!((105.0..=140.0).contains(&m.systolic), "systolic {}", m.systolic);
        assert!(m.spo2 >= 96.0, "spo2 {}", m.spo2);
        assert!((36.3..=37.5).contains(&m.temperature), "temperature {}", m.temperature);
    }

    #[test]
    fn each_condition_moves_its_signals_the_right_way() {
        let stable = ward_means(Condition::Stable);
        let tachy = ward_means(Condition::Tachycardia);
        assert!(tachy.pulse > 110.0 && tachy.pulse > stable.pulse + 30.0, "tachycardia pulse {}", tachy.pulse);
        let brady = ward_means(Condition::Bradycardia);
        assert!(brady.pulse < 50.0, "bradycardia pulse {}", brady.pulse);
        // Fever raises temperature, and through it pulse and respiratory rate.
        let fever = ward_means(Condition::Fever);
        assert!(fever.temperature > 38.5, "fever temperature {}", fever.temperature);
        assert!(fever.pulse > stable.pulse + 12.0, "fever pulse {} vs {}", fever.pulse, stable.pulse);
        assert!(fever.resp_rate > stable.resp_rate + 3.0, "fever rr {} vs {}", fever.resp_rate, stable.resp_rate);
        // Hypoxia lowers saturation and makes the patient breathe faster.
        let hypoxia = ward_means(Condition::Hypoxia);
        assert!(hypoxia.spo2 < 91.0, "hypoxia spo2 {}", hypoxia.spo2);
        assert!(hypoxia.resp_rate > stable.resp_rate + 3.0, "hypoxia rr {}", hypoxia.resp_rate);
        // Shock lowers pressure and makes the heart race.
        let shock = ward_means(Condition::Hypotension);
        assert!(shock.systolic < 95.0, "hypotension systolic {}", shock.systolic);
        assert!(shock.pulse > stable.pulse + 10.0, "hypotension pulse {} vs {}", shock.pulse, stable.pulse);
    }

    #[test]
    fn sepsis_deteriorates_over_time() {
        let dt = 5.0;
        let steps = (SEPSIS_ONSET_SECS * 1.5 / dt) as usize;
        let readings: Vec<Vitals> = (0..10).flat_map(|seed| run(Condition::Sepsis, seed, steps, dt)).collect();
        let per_patient = readings.chunks(steps);
        let (mut early, mut late) = (Vec::new(), Vec::new());
        for patient in per_patient {
            early.extend_from_slice(&patient[..steps / 10]);
            late.extend_from_slice(&patient[steps - steps / 10..]);
        }
        let (early, late) = (means(&early), means(&late));
        assert!(late.temperature > early.temperature + 1.0, "{} → {}", early.temperature, late.temperature);
        assert!(late.systolic < early.systolic - 20.0, "{} → {}", early.systolic, late.systolic);
        assert!(late.pulse > early.pulse + 15.0, "{} → {}", early.pulse, late.pulse);
        assert!(late.spo2 < early.spo2 - 3.0, "{} → {}", early.spo2, late.spo2);
    }

    #[test]
    fn a_new_condition_takes_over_gradually() {
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        let mut p = Physiology::new(Condition::Stable, &mut rng);
        let before = p.step(5.0, &mut rng).pulse;
        p.set_condition(Condition::Tachycardia);
        let next = p.step(5.0, &mut rng).pulse;
        assert!(next < before + 30, "jumped from {before} to {next} in one step");
        let later: Vec<u16> = (0..200).map(|_| p.step(5.0, &mut rng).pulse).collect();
        let mean = later[100..].iter().map(|&p| f64::from(p)).sum::<f64>() / 100.0;
        assert!(mean > f64::from(before) + 30.0, "settled at {mean} from {before}");
    }

    #[test]
    fn the_same_seed_gives_the_same_patient() {
        assert_eq!(run(Condition::Sepsis, 9, 50, 1.0), run(Condition::Sepsis, 9, 50, 1.0));
        assert_ne!(run(Condition::Sepsis, 9, 50, 1.0), run(Condition::Sepsis, 10, 50, 1.0));
    }
}
