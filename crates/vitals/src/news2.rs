//! National Early Warning Score 2 (Royal College of Physicians, 2017), chart 1,
//! SpO2 scale 1. Each parameter scores 0–3; the total and the worst single
//! parameter give the clinical risk band that decides the response.

use serde::{Deserialize, Serialize};

use crate::reading::Reading;

/// Level of consciousness on the ACVPU scale. Only `A` (alert) scores 0.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
pub enum Acvpu {
    /// Alert.
    A,
    /// New confusion.
    C,
    /// Responds to voice.
    V,
    /// Responds to pain.
    P,
    /// Unresponsive.
    U,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum RiskBand {
    /// Total 0–4 with no single parameter at 3: ward-based response.
    Low,
    /// A single parameter scores 3: urgent ward-based review.
    LowMedium,
    /// Total 5–6: urgent response, key threshold.
    Medium,
    /// Total 7 or more: emergency response.
    High,
}

impl Acvpu {
    /// The letter, as stored and shown: an explicit text form, so that
    /// renaming a variant cannot silently change what the database holds.
    pub fn as_str(self) -> &'static str {
        match self {
            Acvpu::A => "A",
            Acvpu::C => "C",
            Acvpu::V => "V",
            Acvpu::P => "P",
            Acvpu::U => "U",
        }
    }
}

impl std::str::FromStr for Acvpu {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        [Acvpu::A, Acvpu::C, Acvpu::V, Acvpu::P, Acvpu::U]
            .into_iter()
            .find(|a| a.as_str() == s)
            .ok_or_else(|| format!("{s:?} is not one of A, C, V, P, U"))
    }
}

impl RiskBand {
    pub fn as_str(self) -> &'static str {
        match self {
            RiskBand::Low => "low",
            RiskBand::LowMedium => "low-medium",
            RiskBand::Medium => "medium",
            RiskBand::High => "high",
        }
    }
}

impl std::str::FromStr for RiskBand {
    type Err = String;

    /// The stored text of a band (what [`RiskBand::as_str`] wrote).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        [RiskBand::Low, RiskBand::LowMedium, RiskBand::Medium, RiskBand::High]
            .into_iter()
            .find(|b| b.as_str() == s)
            .ok_or_else(|| format!("{s:?} is not one of low, low-medium, medium, high"))
    }
}

/// The score of one reading, per parameter and in total.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct News2 {
    pub resp_rate: u8,
    pub spo2: u8,
    pub air_or_oxygen: u8,
    pub systolic: u8,
    pub pulse: u8,
    pub consciousness: u8,
    pub temperature: u8,
    pub total: u8,
    pub band: RiskBand,
}

pub fn resp_rate_score(breaths_per_min: u16) -> u8 {
    match breaths_per_min {
        0..=8 => 3,
        9..=11 => 1,
        12..=20 => 0,
        21..=24 => 2,
        _ => 3,
    }
}

pub fn spo2_scale1_score(percent: u8) -> u8 {
    match percent {
        0..=91 => 3,
        92..=93 => 2,
        94..=95 => 1,
        _ => 0,
    }
}

pub fn systolic_score(mmhg: u16) -> u8 {
    match mmhg {
        0..=90 => 3,
        91..=100 => 2,
        101..=110 => 1,
        111..=219 => 0,
        _ => 3,
    }
}

pub fn pulse_score(beats_per_min: u16) -> u8 {
    match beats_per_min {
        0..=40 => 3,
        41..=50 => 1,
        51..=90 => 0,
        91..=110 => 1,
        111..=130 => 2,
        _ => 3,
    }
}

/// The chart is printed to one decimal place, so the reading is rounded to
/// tenths first: 38.04 °C is 38.0 and scores 0, 38.06 °C is 38.1 and scores 1.
pub fn temperature_score(celsius: f64) -> u8 {
    let tenths = (celsius * 10.0).round() as i64;
    match tenths {
        i64::MIN..=350 => 3,
        351..=360 => 1,
        361..=380 => 0,
        381..=390 => 1,
        _ => 2,
    }
}

pub fn consciousness_score(acvpu: Acvpu) -> u8 {
    if acvpu == Acvpu::A { 0 } else { 3 }
}

pub fn oxygen_score(on_oxygen: bool) -> u8 {
    if on_oxygen { 2 } else { 0 }
}

pub fn band(total: u8, any_parameter_scores_three: bool) -> RiskBand {
    match total {
        7.. => RiskBand::High,
        5..=6 => RiskBand::Medium,
        _ if any_parameter_scores_three => RiskBand::LowMedium,
        _ => RiskBand::Low,
    }
}

impl News2 {
    /// Scores a reading. A reading that does not say otherwise is taken as on
    /// room air and alert, as bedside monitors do not measure either.
    pub fn of(reading: &Reading) -> Self {
        Self::of_values(Values {
            pulse: reading.pulse,
            resp_rate: reading.resp_rate,
            systolic: reading.bp.systolic,
            spo2: reading.spo2,
            temperature: reading.temperature,
            on_oxygen: reading.on_oxygen.unwrap_or(false),
            acvpu: reading.acvpu.unwrap_or(Acvpu::A),
        })
    }

    /// Scores the values NEWS2 reads (of a stored reading, say).
    pub fn of_values(v: Values) -> Self {
        let resp_rate = resp_rate_score(v.resp_rate);
        let spo2 = spo2_scale1_score(v.spo2);
        let air_or_oxygen = oxygen_score(v.on_oxygen);
        let systolic = systolic_score(v.systolic);
        let pulse = pulse_score(v.pulse);
        let consciousness = consciousness_score(v.acvpu);
        let temperature = temperature_score(v.temperature);
        let parts = [resp_rate, spo2, air_or_oxygen, systolic, pulse, consciousness, temperature];
        let total = parts.iter().sum();
        News2 {
            resp_rate,
            spo2,
            air_or_oxygen,
            systolic,
            pulse,
            consciousness,
            temperature,
            total,
            band: band(total, parts.contains(&3)),
        }
    }

    /// The parameters that scored 3, by name in chart order: each alone is a
    /// red score that asks for an urgent review.
    pub fn scored_three(&self) -> Vec<&'static str> {
        [
            ("resp_rate", self.resp_rate),
            ("spo2", self.spo2),
            ("air_or_oxygen", self.air_or_oxygen),
            ("systolic", self.systolic),
            ("pulse", self.pulse),
            ("consciousness", self.consciousness),
            ("temperature", self.temperature),
        ]
        .into_iter()
        .filter_map(|(name, score)| (score == 3).then_some(name))
        .collect()
    }
}

/// What NEWS2 reads of a reading.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Values {
    pub pulse: u16,
    pub resp_rate: u16,
    pub systolic: u16,
    pub spo2: u8,
    pub temperature: f64,
    pub on_oxygen: bool,
    pub acvpu: Acvpu,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::blood_pressure::BloodPressure;
    use chrono::TimeZone;

    #[test]
    fn band_text_reads_back() {
        for band in [RiskBand::Low, RiskBand::LowMedium, RiskBand::Medium, RiskBand::High] {
            assert_eq!(band.as_str().parse::<RiskBand>(), Ok(band));
        }
        assert!("Low".parse::<RiskBand>().is_err());
    }

    #[test]
    fn acvpu_text_is_its_letter_both_ways() {
        for a in [Acvpu::A, Acvpu::C, Acvpu::V, Acvpu::P, Acvpu::U] {
            assert_eq!(a.as_str().parse::<Acvpu>(), Ok(a));
            assert_eq!(serde_json::to_string(&a).unwrap(), format!("\"{}\"", a.as_str()), "the wire agrees");
        }
        assert!("alert".parse::<Acvpu>().is_err());
    }

    #[test]
    fn resp_rate_band_edges() {
        for (value, score) in [(0, 3), (8, 3), (9, 1), (11, 1), (12, 0), (20, 0), (21, 2), (24, 2), (25, 3), (60, 3)] {
            assert_eq!(resp_rate_score(value), score, "resp_rate {value}");
        }
    }

    #[test]
    fn spo2_scale1_band_edges() {
        for (value, score) in [(50, 3), (91, 3), (92, 2), (93, 2), (94, 1), (95, 1), (96, 0), (100, 0)] {
            assert_eq!(spo2_scale1_score(value), score, "spo2 {value}");
        }
    }

    #[test]
    fn systolic_band_edges() {
        for (value, score) in
            [(60, 3), (90, 3), (91, 2), (100, 2), (101, 1), (110, 1), (111, 0), (219, 0), (220, 3), (260, 3)]
        {
            assert_eq!(systolic_score(value), score, "systolic {value}");
        }
    }

    #[test]
    fn pulse_band_edges() {
        for (value, score) in
            [(30, 3), (40, 3), (41, 1), (50, 1), (51, 0), (90, 0), (91, 1), (110, 1), (111, 2), (130, 2), (131, 3)]
        {
            assert_eq!(pulse_score(value), score, "pulse {value}");
        }
    }

    #[test]
    fn temperature_band_edges() {
        for (value, score) in [
            (34.0, 3),
            (35.0, 3),
            (35.1, 1),
            (36.0, 1),
            (36.1, 0),
            (38.0, 0),
            (38.04, 0),
            (38.06, 1),
            (38.1, 1),
            (39.0, 1),
            (39.1, 2),
            (41.0, 2),
        ] {
            assert_eq!(temperature_score(value), score, "temperature {value}");
        }
    }

    #[test]
    fn consciousness_and_oxygen() {
        assert_eq!(consciousness_score(Acvpu::A), 0);
        for level in [Acvpu::C, Acvpu::V, Acvpu::P, Acvpu::U] {
            assert_eq!(consciousness_score(level), 3);
        }
        assert_eq!(oxygen_score(false), 0);
        assert_eq!(oxygen_score(true), 2);
    }

    #[test]
    fn risk_band_edges() {
        for (total, any_three, expected) in [
            (0, false, RiskBand::Low),
            (4, false, RiskBand::Low),
            (3, true, RiskBand::LowMedium),
            (4, true, RiskBand::LowMedium),
            (5, false, RiskBand::Medium),
            (6, true, RiskBand::Medium),
            (7, false, RiskBand::High),
            (20, true, RiskBand::High),
        ] {
            assert_eq!(band(total, any_three), expected, "total {total}, any three {any_three}");
        }
    }

    fn reading(pulse: u16, resp_rate: u16, sys: u16, spo2: u8, temperature: f64) -> Reading {
        Reading {
            patient: uuid::Uuid::nil(),
            name: None,
            measured_at: chrono::Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap(),
            pulse,
            resp_rate,
            bp: BloodPressure::new(sys, 70.min(sys.saturating_sub(1))),
            spo2,
            temperature,
            on_oxygen: None,
            acvpu: None,
        }
    }

    #[test]
    fn a_healthy_adult_scores_zero_and_low() {
        let score = News2::of(&reading(72, 16, 120, 98, 36.8));
        assert_eq!(score.total, 0);
        assert_eq!(score.band, RiskBand::Low);
    }

    #[test]
    fn one_red_parameter_makes_low_medium() {
        let score = News2::of(&reading(72, 16, 120, 90, 36.8));
        assert_eq!((score.spo2, score.total, score.band), (3, 3, RiskBand::LowMedium));
    }

    #[test]
    fn the_parameters_that_scored_three_are_named() {
        assert!(News2::of(&reading(72, 16, 120, 98, 36.8)).scored_three().is_empty());
        // resp 26 → 3, sys 88 → 3, spo2 90 → 3, pulse 125 → 2, temp 34.9 → 3
        let mut r = reading(125, 26, 88, 90, 34.9);
        r.acvpu = Some(Acvpu::V);
        assert_eq!(News2::of(&r).scored_three(), ["resp_rate", "spo2", "systolic", "consciousness", "temperature"]);
    }

    #[test]
    fn septic_patient_scores_high() {
        // pulse 125 → 2, resp 26 → 3, sys 95 → 2, spo2 93 → 2, temp 39.4 → 2
        let score = News2::of(&reading(125, 26, 95, 93, 39.4));
        assert_eq!(score.total, 11);
        assert_eq!(score.band, RiskBand::High);
    }

    #[test]
    fn oxygen_and_confusion_count() {
        let mut r = reading(72, 16, 120, 98, 36.8);
        r.on_oxygen = Some(true);
        r.acvpu = Some(Acvpu::C);
        let score = News2::of(&r);
        assert_eq!((score.air_or_oxygen, score.consciousness, score.total), (2, 3, 5));
        assert_eq!(score.band, RiskBand::Medium);
    }
}
