//! The named clinical conditions the emulator can give a patient.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Condition {
    Stable,
    Tachycardia,
    Bradycardia,
    Hypotension,
    Hypoxia,
    Fever,
    /// Deteriorates over time: fever, then tachycardia, tachypnoea and falling pressure.
    Sepsis,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown condition {given:?}; allowed: {}", Condition::NAMES.join(", "))]
pub struct UnknownCondition {
    pub given: String,
}

impl Condition {
    pub const ALL: [Condition; 7] = [
        Condition::Stable,
        Condition::Tachycardia,
        Condition::Bradycardia,
        Condition::Hypotension,
        Condition::Hypoxia,
        Condition::Fever,
        Condition::Sepsis,
    ];
    pub const NAMES: [&'static str; 7] =
        ["stable", "tachycardia", "bradycardia", "hypotension", "hypoxia", "fever", "sepsis"];

    pub fn as_str(self) -> &'static str {
        match self {
            Condition::Stable => "stable",
            Condition::Tachycardia => "tachycardia",
            Condition::Bradycardia => "bradycardia",
            Condition::Hypotension => "hypotension",
            Condition::Hypoxia => "hypoxia",
            Condition::Fever => "fever",
            Condition::Sepsis => "sepsis",
        }
    }
}

impl FromStr for Condition {
    type Err = UnknownCondition;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Condition::ALL
            .into_iter()
            .find(|c| c.as_str().eq_ignore_ascii_case(s.trim()))
            .ok_or_else(|| UnknownCondition { given: s.to_owned() })
    }
}

impl fmt::Display for Condition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_parse_and_serialize_alike() {
        for (c, name) in Condition::ALL.into_iter().zip(Condition::NAMES) {
            assert_eq!(c.as_str(), name);
            assert_eq!(name.parse::<Condition>().unwrap(), c);
            assert_eq!(serde_json::to_string(&c).unwrap(), format!("\"{name}\""));
        }
    }

    #[test]
    fn unknown_condition_lists_the_allowed_ones() {
        let err = "zombie".parse::<Condition>().unwrap_err();
        let text = err.to_string();
        assert!(text.contains("\"zombie\""), "{text}");
        for name in Condition::NAMES {
            assert!(text.contains(name), "{text} lacks {name}");
        }
    }
}
