//! Blood pressure, carried on the wire as the original assignment's `"120/80"`.

use std::fmt;
use std::str::FromStr;

/// Arterial blood pressure in mmHg.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct BloodPressure {
    pub systolic: u16,
    pub diastolic: u16,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("bp {0:?} is not in the form \"120/80\" (systolic/diastolic, whole mmHg)")]
pub struct BloodPressureError(pub String);

impl BloodPressure {
    pub const fn new(systolic: u16, diastolic: u16) -> Self {
        Self { systolic, diastolic }
    }
}

impl FromStr for BloodPressure {
    type Err = BloodPressureError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = || BloodPressureError(s.to_owned());
        let (sys, dia) = s.trim().split_once('/').ok_or_else(err)?;
        // Only plain digits: `u16::from_str` would also take "+120".
        let number = |part: &str| {
            let part = part.trim();
            if part.is_empty() || part.len() > 3 || !part.bytes().all(|b| b.is_ascii_digit()) {
                return Err(err());
            }
            part.parse::<u16>().map_err(|_| err())
        };
        Ok(Self::new(number(sys)?, number(dia)?))
    }
}

impl fmt::Display for BloodPressure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.systolic, self.diastolic)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_and_format_round_trip() {
        for (text, sys, dia) in [("120/80", 120, 80), ("90/60", 90, 60), ("250/130", 250, 130), ("0/0", 0, 0)] {
            let bp: BloodPressure = text.parse().unwrap();
            assert_eq!(bp, BloodPressure::new(sys, dia));
            assert_eq!(bp.to_string(), text);
        }
    }

    #[test]
    fn tolerates_spaces_around_the_numbers() {
        assert_eq!(" 120 / 80 ".parse::<BloodPressure>().unwrap(), BloodPressure::new(120, 80));
    }

    #[test]
    fn rejects_everything_that_is_not_two_whole_numbers() {
        for bad in ["", "120", "120/", "/80", "120-80", "120/80/60", "a/b", "+120/80", "120.5/80", "1200/80", "-120/80"]
        {
            let err = bad.parse::<BloodPressure>().unwrap_err();
            assert_eq!(err, BloodPressureError(bad.to_owned()), "{bad:?}");
        }
    }
}
