//! How a ward's beds are split between conditions: `CONDITION_MIX`, e.g.
//! `stable=2,tachycardia=1,sepsis=1`. Each bed's condition is a function of
//! its bed number only, so a bed keeps its condition when the ward grows.

use std::fmt;
use std::str::FromStr;

use crate::Condition;

/// Largest sum of weights: the mix repeats every that many beds.
pub const MAX_TOTAL_WEIGHT: u32 = 1000;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConditionMix {
    weights: Vec<(Condition, u32)>,
    /// One period of beds' conditions, interleaved (smooth weighted round
    /// robin) so that a small ward already shows the mix.
    cycle: Vec<Condition>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConditionMixError {
    #[error("the condition mix is empty; expected e.g. stable=2,tachycardia=1,sepsis=1")]
    Empty,
    #[error("{0:?} is not condition=weight")]
    NotAPair(String),
    #[error("unknown condition {given:?} in the condition mix; allowed: {}", Condition::NAMES.join(", "))]
    UnknownCondition { given: String },
    #[error("weight {weight:?} of {condition} is not a whole number 0–{MAX_TOTAL_WEIGHT}")]
    BadWeight { condition: Condition, weight: String },
    #[error("{0} appears twice in the condition mix")]
    Duplicate(Condition),
    #[error("the weights of the condition mix add up to {0}; they must add up to 1–{MAX_TOTAL_WEIGHT}")]
    BadTotal(u64),
}

impl ConditionMix {
    /// The condition of bed number `bed`.
    pub fn condition_of(&self, bed: u64) -> Condition {
        // `cycle` is never empty: a mix with a total weight of 0 is refused.
        self.cycle[(bed % self.cycle.len() as u64) as usize]
    }

    pub fn weights(&self) -> &[(Condition, u32)] {
        &self.weights
    }

    fn new(weights: Vec<(Condition, u32)>) -> Result<Self, ConditionMixError> {
        let total: u64 = weights.iter().map(|&(_, w)| u64::from(w)).sum();
        if total == 0 || total > u64::from(MAX_TOTAL_WEIGHT) {
            return Err(ConditionMixError::BadTotal(total));
        }
        let total = total as i64;
        let mut credit = vec![0i64; weights.len()];
        let mut cycle = Vec::with_capacity(total as usize);
        for _ in 0..total {
            for (c, &(_, w)) in credit.iter_mut().zip(&weights) {
                *c += i64::from(w);
            }
            // The first of the largest credits, so ties go to the order written.
            let mut pick = 0;
            for (i, &c) in credit.iter().enumerate() {
                if c > credit[pick] {
                    pick = i;
                }
            }
            credit[pick] -= total;
            cycle.push(weights[pick].0);
        }
        Ok(ConditionMix { weights, cycle })
    }
}

impl FromStr for ConditionMix {
    type Err = ConditionMixError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let mut weights: Vec<(Condition, u32)> = Vec::new();
        for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (name, weight) = part.split_once('=').ok_or_else(|| ConditionMixError::NotAPair(part.to_owned()))?;
            let condition: Condition =
                name.parse().map_err(|_| ConditionMixError::UnknownCondition { given: name.trim().to_owned() })?;
            let weight = weight
                .trim()
                .parse::<u32>()
                .ok()
                .filter(|&w| w <= MAX_TOTAL_WEIGHT)
                .ok_or_else(|| ConditionMixError::BadWeight { condition, weight: weight.trim().to_owned() })?;
            if weights.iter().any(|&(c, _)| c == condition) {
                return Err(ConditionMixError::Duplicate(condition));
            }
            weights.push((condition, weight));
        }
        if weights.is_empty() {
            return Err(ConditionMixError::Empty);
        }
        ConditionMix::new(weights)
    }
}

impl fmt::Display for ConditionMix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, (c, w)) in self.weights.iter().enumerate() {
            write!(f, "{}{c}={w}", if i == 0 { "" } else { "," })?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn beds_follow_the_weights_interleaved() {
        let mix: ConditionMix = "stable=2, tachycardia=1,sepsis=1".parse().unwrap();
        let beds: Vec<Condition> = (0..8).map(|b| mix.condition_of(b)).collect();
        use Condition::*;
        assert_eq!(beds, [Stable, Tachycardia, Sepsis, Stable, Stable, Tachycardia, Sepsis, Stable]);
        assert_eq!(mix.to_string(), "stable=2,tachycardia=1,sepsis=1");

        let mix: ConditionMix = "stable=97,sepsis=3".parse().unwrap();
        let septic = (0..10_000).filter(|&b| mix.condition_of(b) == Sepsis).count();
        assert_eq!(septic, 300);
        // A zero weight is allowed (a condition switched off) as long as something remains.
        let mix: ConditionMix = "fever=1,sepsis=0".parse().unwrap();
        assert!((0..10).all(|b| mix.condition_of(b) == Fever));
    }

    #[test]
    fn bad_mixes_say_what_is_wrong() {
        for (text, needle) in [
            ("", "empty"),
            (" , ", "empty"),
            ("stable", "not condition=weight"),
            ("zombie=1", "allowed: stable, tachycardia"),
            ("stable=x", "weight \"x\" of stable"),
            ("stable=-1", "weight \"-1\""),
            ("stable=1001", "1001"),
            ("stable=1,stable=2", "stable appears twice"),
            ("stable=0", "add up to 0"),
            ("stable=600,sepsis=600", "add up to 1200"),
        ] {
            let err = text.parse::<ConditionMix>().expect_err(text).to_string();
            assert!(err.contains(needle), "{text:?}: {err}");
        }
    }
}
