//! Who is in the emulated ward, and in what condition. Shared between the
//! scheduler (reads conditions every reading) and the control API (changes
//! them, as does the pod's own annotation), so conditions are atomics rather
//! than a lock the hot loop waits on.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};

use chrono::{DateTime, Utc};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use uuid::Uuid;
use vitals::identity::{FAMILY_NAMES, GIVEN_NAMES};
use vitals::{Condition, ConditionMix};

use crate::config::Mode;

#[derive(Debug, Clone, PartialEq)]
pub struct EmulatedPatient {
    pub uuid: Uuid,
    pub name: String,
    pub bed: Option<String>,
    pub admitted_at: DateTime<Utc>,
}

#[derive(Debug)]
pub struct Ward {
    patients: Vec<EmulatedPatient>,
    conditions: Vec<AtomicU8>,
    /// Whether each bed's monitor sends readings (the control API can stop
    /// one, to show what a silent monitor looks like downstream).
    monitors: Vec<AtomicBool>,
    /// What the configuration gave each patient: what a removed annotation returns to.
    configured: Vec<Condition>,
    by_uuid: HashMap<Uuid, usize>,
    seed: u64,
    /// Bed number of the first patient: a pod's beds keep their own random
    /// streams whichever pod emulates them.
    first_bed: u64,
}

impl Ward {
    pub fn new(mode: &Mode, seed: u64, mix: Option<&ConditionMix>, admitted_at: DateTime<Utc>) -> Ward {
        let condition_of = |bed: u64| configured_condition(seed, mix, bed);
        let mut first_bed = 0;
        let (patients, conditions): (Vec<_>, Vec<_>) = match mode {
            Mode::Single { uuid, name, bed, condition } => (
                vec![EmulatedPatient { uuid: *uuid, name: name.clone(), bed: bed.clone(), admitted_at }],
                vec![*condition],
            ),
            Mode::Ward { patients } => (0..u64::from(*patients))
                .map(|i| {
                    let mut rng = patient_rng(seed, i);
                    let name = format!(
                        "{} {}",
                        GIVEN_NAMES[rng.random_range(0..GIVEN_NAMES.len())],
                        FAMILY_NAMES[rng.random_range(0..FAMILY_NAMES.len())]
                    );
                    let patient = EmulatedPatient {
                        uuid: vitals::identity::patient_uuid_from_seed(seed, i),
                        name,
                        bed: Some(format!("{:02}", i + 1)),
                        admitted_at,
                    };
                    (patient, condition_of(i))
                })
                .unzip(),
            Mode::Beds { statefulset, first, count } => {
                first_bed = *first;
                (*first..*first + u64::from(*count))
                    .map(|bed| {
                        let id = vitals::identity::bed_identity(statefulset, bed, seed);
                        let patient = EmulatedPatient { uuid: id.uuid, name: id.name, bed: Some(id.bed), admitted_at };
                        (patient, condition_of(bed))
                    })
                    .unzip()
            }
        };
        let by_uuid = patients.iter().enumerate().map(|(i, p)| (p.uuid, i)).collect();
        let monitors = conditions.iter().map(|_| AtomicBool::new(true)).collect();
        let atomics = conditions.iter().map(|&c| AtomicU8::new(encode(c))).collect();
        Ward { patients, conditions: atomics, monitors, configured: conditions, by_uuid, seed, first_bed }
    }

    pub fn patients(&self) -> &[EmulatedPatient] {
        &self.patients
    }

    pub fn len(&self) -> usize {
        self.patients.len()
    }

    pub fn is_empty(&self) -> bool {
        self.patients.is_empty()
    }

    pub fn seed(&self) -> u64 {
        self.seed
    }

    /// The random stream of the patient at `index`.
    pub fn rng(&self, index: usize) -> ChaCha8Rng {
        patient_rng(self.seed, self.first_bed + index as u64)
    }

    pub fn index_of(&self, uuid: Uuid) -> Option<usize> {
        self.by_uuid.get(&uuid).copied()
    }

    pub fn condition(&self, index: usize) -> Condition {
        decode(self.conditions[index].load(Ordering::Relaxed))
    }

    pub fn monitor_running(&self, index: usize) -> bool {
        self.monitors[index].load(Ordering::Relaxed)
    }

    /// Starts or stops a patient's monitor; `None` when the patient is not emulated here.
    pub fn set_monitor_running(&self, uuid: Uuid, running: bool) -> Option<&EmulatedPatient> {
        let index = self.index_of(uuid)?;
        self.monitors[index].store(running, Ordering::Relaxed);
        Some(&self.patients[index])
    }

    /// Changes a patient's condition; `None` when the patient is not emulated here.
    pub fn set_condition(&self, uuid: Uuid, condition: Condition) -> Option<&EmulatedPatient> {
        let index = self.index_of(uuid)?;
        self.conditions[index].store(encode(condition), Ordering::Relaxed);
        Some(&self.patients[index])
    }

    /// Gives every patient here one condition (the pod's annotation).
    pub fn set_all(&self, condition: Condition) {
        for c in &self.conditions {
            c.store(encode(condition), Ordering::Relaxed);
        }
    }

    /// Returns every patient to the condition the configuration gave them.
    pub fn restore_configured(&self) {
        for (c, &configured) in self.conditions.iter().zip(&self.configured) {
            c.store(encode(configured), Ordering::Relaxed);
        }
    }

    pub fn configured_condition(&self, index: usize) -> Condition {
        self.configured[index]
    }
}

/// The random stream of patient `index`: its own, so a patient's readings do
/// not depend on how many others share the ward or in which order they run.
pub fn patient_rng(seed: u64, index: u64) -> ChaCha8Rng {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    rng.set_stream(index);
    rng
}

/// The condition the configuration gives bed `bed`: from the mix when one
/// is given, else the default mix.
pub fn configured_condition(seed: u64, mix: Option<&ConditionMix>, bed: u64) -> Condition {
    mix.map_or_else(|| ward_condition(seed, bed), |m| m.condition_of(bed))
}

/// A ward mixes conditions: two patients in three are stable, every third is
/// not, cycling through the other conditions from an offset the seed picks.
/// Deterministic, so even a small ward shows abnormal readings at once.
pub fn ward_condition(seed: u64, index: u64) -> Condition {
    if index % 3 != 1 {
        return Condition::Stable;
    }
    let unwell = &Condition::ALL[1..];
    // `unwell` is a fixed, non-empty slice, so the modulo is in range.
    unwell[((index / 3 + seed) % unwell.len() as u64) as usize]
}

fn encode(condition: Condition) -> u8 {
    Condition::ALL.iter().position(|&c| c == condition).unwrap_or(0) as u8
}

fn decode(code: u8) -> Condition {
    Condition::ALL.get(usize::from(code)).copied().unwrap_or(Condition::Stable)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_ward_mixes_every_condition_and_is_mostly_stable() {
        let ward = Ward::new(&Mode::Ward { patients: 40 }, 7, None, Utc::now());
        let conditions: Vec<Condition> = (0..ward.len()).map(|i| ward.condition(i)).collect();
        let stable = conditions.iter().filter(|&&c| c == Condition::Stable).count();
        assert!(stable > 20 && stable < 40, "{stable} of 40 stable");
        for c in Condition::ALL {
            assert!(conditions.contains(&c), "{c} missing from {conditions:?}");
        }
    }

    #[test]
    fn identities_are_stable_for_a_seed_and_unique() {
        let a = Ward::new(&Mode::Ward { patients: 100 }, 7, None, Utc::now());
        let b = Ward::new(&Mode::Ward { patients: 100 }, 7, None, Utc::now());
        assert_eq!(
            a.patients().iter().map(|p| (p.uuid, &p.name)).collect::<Vec<_>>(),
            b.patients().iter().map(|p| (p.uuid, &p.name)).collect::<Vec<_>>()
        );
        let uuids: std::collections::HashSet<_> = a.patients().iter().map(|p| p.uuid).collect();
        assert_eq!(uuids.len(), 100);
    }

    #[test]
    fn conditions_change_by_uuid_only_for_known_patients() {
        let ward = Ward::new(&Mode::Ward { patients: 3 }, 1, None, Utc::now());
        let uuid = ward.patients()[0].uuid;
        assert!(ward.set_condition(uuid, Condition::Sepsis).is_some());
        assert_eq!(ward.condition(0), Condition::Sepsis);
        assert!(ward.set_condition(Uuid::nil(), Condition::Fever).is_none());
    }

    #[test]
    fn a_pods_beds_are_derived_from_its_set_and_ordinal_and_follow_the_mix() {
        let mix: ConditionMix = "stable=1,hypoxia=1".parse().unwrap();
        let mode = Mode::Beds { statefulset: "icu-patients".into(), first: 6, count: 2 };
        let ward = Ward::new(&mode, 5, Some(&mix), Utc::now());
        for (i, bed) in [6u64, 7].into_iter().enumerate() {
            let id = vitals::identity::bed_identity("icu-patients", bed, 5);
            let p = &ward.patients()[i];
            assert_eq!((p.uuid, &p.name, p.bed.as_deref()), (id.uuid, &id.name, Some(id.bed.as_str())));
            assert_eq!(ward.condition(i), mix.condition_of(bed));
        }
        assert_eq!(ward.condition(0), Condition::Stable);
        assert_eq!(ward.condition(1), Condition::Hypoxia);
        // The bed's random stream is its bed number's, as in a one-process ward.
        use rand::RngCore;
        assert_eq!(ward.rng(1).next_u64(), patient_rng(5, 7).next_u64());

        ward.set_all(Condition::Sepsis);
        assert!((0..2).all(|i| ward.condition(i) == Condition::Sepsis));
        ward.restore_configured();
        assert_eq!([ward.condition(0), ward.condition(1)], [Condition::Stable, Condition::Hypoxia]);
    }
}
