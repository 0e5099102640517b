//! A stored reading as FHIR R4 vital-signs Observations (the profiles of
//! <http://hl7.org/fhir/R4/observation-vitalsigns.html>): one per vital, in a
//! fixed order, each with the `vital-signs` category, its LOINC code, the
//! patient as subject, the time measured and a UCUM quantity. Blood pressure
//! is one panel with systolic and diastolic components, as the profile asks.

use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::Number;
use store::ward::StoredReading;
use uuid::Uuid;

use super::model::{CodeableConcept, Coding, Component, Meta, Observation, Quantity, Reference};

pub const LOINC: &str = "http://loinc.org";
pub const UCUM: &str = "http://unitsofmeasure.org";
pub const OBSERVATION_CATEGORY: &str = "http://terminology.hl7.org/CodeSystem/observation-category";

/// The vitals of a reading, in the order a reading's Observations are listed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Vital {
    HeartRate,
    RespiratoryRate,
    BloodPressure,
    OxygenSaturation,
    BodyTemperature,
}

impl Vital {
    pub const ALL: [Vital; 5] = [
        Vital::HeartRate,
        Vital::RespiratoryRate,
        Vital::BloodPressure,
        Vital::OxygenSaturation,
        Vital::BodyTemperature,
    ];

    /// Observations per reading.
    pub const PER_READING: usize = Self::ALL.len();

    fn slug(self) -> &'static str {
        match self {
            Vital::HeartRate => "heart-rate",
            Vital::RespiratoryRate => "respiratory-rate",
            Vital::BloodPressure => "blood-pressure",
            Vital::OxygenSaturation => "oxygen-saturation",
            Vital::BodyTemperature => "body-temperature",
        }
    }

    fn profile(self) -> &'static str {
        match self {
            Vital::HeartRate => "http://hl7.org/fhir/StructureDefinition/heartrate",
            Vital::RespiratoryRate => "http://hl7.org/fhir/StructureDefinition/resprate",
            Vital::BloodPressure => "http://hl7.org/fhir/StructureDefinition/bp",
            Vital::OxygenSaturation => "http://hl7.org/fhir/StructureDefinition/oxygensat",
            Vital::BodyTemperature => "http://hl7.org/fhir/StructureDefinition/bodytemp",
        }
    }

    fn code(self) -> CodeableConcept {
        let loinc = |code, display| Coding { system: LOINC, code, display };
        match self {
            Vital::HeartRate => concept(vec![loinc("8867-4", "Heart rate")], "Heart rate"),
            Vital::RespiratoryRate => concept(vec![loinc("9279-1", "Respiratory rate")], "Respiratory rate"),
            Vital::BloodPressure => {
                concept(vec![loinc("85354-9", "Blood pressure panel with all children optional")], "Blood pressure")
            }
            Vital::OxygenSaturation => concept(
                vec![
                    loinc("2708-6", "Oxygen saturation in Arterial blood"),
                    loinc("59408-5", "Oxygen saturation in Arterial blood by Pulse oximetry"),
                ],
                "Oxygen saturation (SpO2)",
            ),
            Vital::BodyTemperature => concept(vec![loinc("8310-5", "Body temperature")], "Body temperature"),
        }
    }
}

fn concept(coding: Vec<Coding>, text: &'static str) -> CodeableConcept {
    CodeableConcept { coding, text }
}

fn vital_signs_category() -> CodeableConcept {
    concept(vec![Coding { system: OBSERVATION_CATEGORY, code: "vital-signs", display: "Vital Signs" }], "Vital Signs")
}

fn quantity(value: Number, unit: &'static str, code: &'static str) -> Quantity {
    Quantity { value, unit, system: UCUM, code }
}

fn mm_hg(value: i16) -> Quantity {
    quantity(value.into(), "mmHg", "mm[Hg]")
}

/// A FHIR `dateTime` (RFC 3339 with `Z`, only the fraction the time has).
pub fn date_time(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::AutoSi, true)
}

/// The id of one Observation: a name-based UUID of the patient, the
/// instant and the vital, so it is the same in every response and replica.
pub fn observation_id(patient: Uuid, at: DateTime<Utc>, vital: Vital) -> Uuid {
    let name = format!("{}/{}", at.timestamp_micros(), vital.slug());
    Uuid::new_v5(&patient, name.as_bytes())
}

/// One vital of a reading as an Observation.
pub fn observation(patient: Uuid, r: &StoredReading, vital: Vital) -> Observation {
    let (value_quantity, component) = match vital {
        Vital::HeartRate => (Some(quantity(r.pulse.into(), "beats/minute", "/min")), vec![]),
        Vital::RespiratoryRate => (Some(quantity(r.resp_rate.into(), "breaths/minute", "/min")), vec![]),
        Vital::BloodPressure => (
            None,
            vec![
                Component {
                    code: concept(
                        vec![Coding { system: LOINC, code: "8480-6", display: "Systolic blood pressure" }],
                        "Systolic blood pressure",
                    ),
                    value_quantity: mm_hg(r.bp_systolic),
                },
                Component {
                    code: concept(
                        vec![Coding { system: LOINC, code: "8462-4", display: "Diastolic blood pressure" }],
                        "Diastolic blood pressure",
                    ),
                    value_quantity: mm_hg(r.bp_diastolic),
                },
            ],
        ),
        Vital::OxygenSaturation => (Some(quantity(r.spo2.into(), "%", "%")), vec![]),
        Vital::BodyTemperature => {
            // Stored values are finite (the domain refuses anything outside 20–45 °C).
            let celsius = Number::from_f64(r.temperature).unwrap_or_else(|| Number::from(0));
            (Some(quantity(celsius, "C", "Cel")), vec![])
        }
    };
    Observation {
        resource_type: "Observation",
        id: observation_id(patient, r.measured_at, vital).to_string(),
        meta: Meta { profile: vec![vital.profile()] },
        status: "final",
        category: vec![vital_signs_category()],
        code: vital.code(),
        subject: Reference { reference: format!("Patient/{patient}") },
        effective_date_time: date_time(r.measured_at),
        value_quantity,
        component,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reading() -> StoredReading {
        StoredReading {
            measured_at: DateTime::parse_from_rfc3339("2026-11-29T08:00:00.250Z").unwrap().to_utc(),
            pulse: 72,
            resp_rate: 16,
            bp_systolic: 121,
            bp_diastolic: 79,
            spo2: 97,
            temperature: 37.4,
            on_oxygen: None,
            acvpu: None,
            news2: 0,
            news2_band: "low".into(),
            trace_id: None,
            span_id: None,
        }
    }

    #[test]
    fn each_vital_has_its_loinc_code_and_ucum_unit() {
        let patient = Uuid::from_u128(42);
        let r = reading();
        let json = |v| serde_json::to_value(observation(patient, &r, v)).unwrap();
        let hr = json(Vital::HeartRate);
        assert_eq!(hr["code"]["coding"][0]["code"], "8867-4");
        assert_eq!(
            hr["valueQuantity"],
            serde_json::json!({"value": 72, "unit": "beats/minute", "system": UCUM, "code": "/min"})
        );
        assert_eq!(hr["subject"]["reference"], format!("Patient/{patient}"));
        assert_eq!(hr["effectiveDateTime"], "2026-11-29T08:00:00.250Z");
        assert_eq!(hr["category"][0]["coding"][0]["code"], "vital-signs");
        let bp = json(Vital::BloodPressure);
        assert!(bp.get("valueQuantity").is_none(), "a panel's values are its components");
        assert_eq!(bp["component"][0]["code"]["coding"][0]["code"], "8480-6");
        assert_eq!(bp["component"][0]["valueQuantity"]["value"], 121);
        assert_eq!(bp["component"][1]["valueQuantity"]["code"], "mm[Hg]");
        let spo2 = json(Vital::OxygenSaturation);
        let codes: Vec<&str> =
            spo2["code"]["coding"].as_array().unwrap().iter().map(|c| c["code"].as_str().unwrap()).collect();
        assert_eq!(codes, ["2708-6", "59408-5"]);
        assert_eq!(json(Vital::BodyTemperature)["valueQuantity"]["value"], 37.4);
        assert_eq!(json(Vital::RespiratoryRate)["valueQuantity"]["code"], "/min");
    }

    #[test]
    fn ids_are_stable_and_distinct() {
        let (patient, r) = (Uuid::from_u128(42), reading());
        let ids: std::collections::HashSet<Uuid> =
            Vital::ALL.iter().map(|v| observation_id(patient, r.measured_at, *v)).collect();
        assert_eq!(ids.len(), 5);
        assert_eq!(
            observation_id(patient, r.measured_at, Vital::HeartRate),
            observation(patient, &r, Vital::HeartRate).id.parse::<Uuid>().unwrap()
        );
    }
}
