//! The emulator's configuration, from flags or the environment, with the
//! original assignment's names (`KAFKA_BOOTSTRAP_SERVERS`, `KAFKA_TOPIC`,
//! `API_PREFIX`, `DEBUG`, `METRICS_INTERVAL`, `PATIENT_UUID`,
//! `PATIENT_NAME`, `PORT`), and the pod's own identity when it runs in
//! Kubernetes (`POD_NAME`, `POD_NAMESPACE` from the downward API).

use std::net::IpAddr;
use std::time::Duration;

use uuid::Uuid;
use vitals::{Condition, ConditionMix};

use crate::pod_watch::OwnPod;

#[derive(Debug, Clone, clap::Parser)]
#[command(name = "patient-service", version, about = "Emulated bedside monitors publishing vital signs to Kafka")]
pub struct Config {
    /// Kafka brokers, comma-separated host:port.
    #[arg(long, env = "KAFKA_BOOTSTRAP_SERVERS", default_value = "localhost:9092")]
    pub kafka_bootstrap_servers: String,
    /// Topic of the readings.
    #[arg(long, env = "KAFKA_TOPIC", default_value = vitals::wire::VITALS_TOPIC, value_parser = parse_topic)]
    pub kafka_topic: String,
    /// Topic of the admission events.
    #[arg(long, env = "KAFKA_PATIENTS_TOPIC", default_value = vitals::wire::PATIENTS_TOPIC, value_parser = parse_topic)]
    pub kafka_patients_topic: String,
    /// Messages the producer may hold while the broker is unreachable; beyond
    /// this, readings are dropped and counted (`icu_emulator_dropped_total`).
    #[arg(long, env = "KAFKA_QUEUE_MAX_MESSAGES", default_value_t = 100_000,
          value_parser = clap::value_parser!(u32).range(1..=10_000_000))]
    pub kafka_queue_max_messages: u32,
    /// Seconds between two readings of one patient (fractions allowed).
    #[arg(long, env = "METRICS_INTERVAL", default_value = "5", value_parser = parse_interval)]
    pub metrics_interval: Duration,
    /// One patient with this name (the original single-patient mode).
    #[arg(long, env = "PATIENT_NAME", conflicts_with = "patients")]
    pub name: Option<String>,
    /// The single patient's UUID; derived stably from the name when absent.
    #[arg(long, env = "PATIENT_UUID", requires = "name")]
    pub patient_uuid: Option<Uuid>,
    /// The single patient's bed label.
    #[arg(long, env = "PATIENT_BED", requires = "name")]
    pub bed: Option<String>,
    /// The single patient's condition (a ward mixes conditions by seed).
    #[arg(long, env = "PATIENT_CONDITION", requires = "name", value_parser = parse_condition)]
    pub condition: Option<Condition>,
    /// Emulate a ward of this many patients in one process.
    #[arg(long, env = "PATIENTS", value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    pub patients: Option<u32>,
    /// How a ward's beds are split between conditions, as weights, e.g.
    /// `stable=2,tachycardia=1,sepsis=1`; each bed's condition follows from
    /// its bed number. Default: two in three stable, every third cycling
    /// through the other conditions.
    #[arg(long, env = "CONDITION_MIX", value_parser = parse_mix)]
    pub condition_mix: Option<ConditionMix>,
    /// This pod's name (downward API `metadata.name`). A StatefulSet pod
    /// `<set>-<ordinal>` emulates beds `ordinal*BEDS_PER_POD ..` with
    /// identities derived from the set's name, the bed and `SEED`.
    #[arg(long, env = "POD_NAME", value_parser = parse_nonempty)]
    pub pod_name: Option<String>,
    /// This pod's namespace (downward API `metadata.namespace`).
    #[arg(long, env = "POD_NAMESPACE", value_parser = parse_nonempty)]
    pub pod_namespace: Option<String>,
    /// Beds one StatefulSet pod emulates.
    #[arg(long, env = "BEDS_PER_POD", default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub beds_per_pod: u32,
    /// Watch this pod's annotation `icu-monitor.io/condition` and apply it to
    /// its beds; default: on when `POD_NAME` and `POD_NAMESPACE` are set.
    #[arg(long, env = "WATCH_POD", value_parser = clap::builder::BoolishValueParser::new())]
    pub watch_pod: Option<bool>,
    /// Seed of identities and physiology: the same seed, the same ward.
    #[arg(long, env = "SEED", default_value_t = 1)]
    pub seed: u64,
    /// Address of the control API.
    #[arg(long, env = "HOST", default_value = "0.0.0.0")]
    pub host: IpAddr,
    /// Port of the control API (0 picks a free one).
    #[arg(long, env = "PORT", default_value_t = 8000)]
    pub port: u16,
    /// Prefix of the control API's routes.
    #[arg(long, env = "API_PREFIX", default_value = "/api/v1", value_parser = telemetry::parse_api_prefix)]
    pub api_prefix: String,
    /// Debug logging.
    #[arg(long, env = "DEBUG")]
    pub debug: bool,
}

/// Who the emulator is: one named patient, a ward, or the beds of one
/// StatefulSet pod.
#[derive(Debug, Clone, PartialEq)]
pub enum Mode {
    Single {
        uuid: Uuid,
        name: String,
        bed: Option<String>,
        condition: Condition,
    },
    Ward {
        patients: u32,
    },
    /// Beds `first .. first + count` of StatefulSet `statefulset`.
    Beds {
        statefulset: String,
        first: u64,
        count: u32,
    },
}

/// A ward this size when neither `--name` nor `--patients` is given: enough
/// for a few abnormal patients among the stable ones.
pub const DEFAULT_WARD: u32 = 12;

impl Config {
    /// An explicit `--name` or `--patients` wins over the pod's name; a pod
    /// name without an ordinal (not a StatefulSet pod) emulates the default ward.
    pub fn mode(&self) -> Result<Mode, ConfigError> {
        if let Some(name) = &self.name {
            return Ok(Mode::Single {
                uuid: self.patient_uuid.unwrap_or_else(|| vitals::identity::patient_uuid_from_name(name)),
                name: name.clone(),
                bed: self.bed.clone(),
                condition: self.condition.unwrap_or(Condition::Stable),
            });
        }
        if let Some(patients) = self.patients {
            return Ok(Mode::Ward { patients });
        }
        let Some((statefulset, ordinal)) = self.pod_name.as_deref().and_then(vitals::identity::statefulset_ordinal)
        else {
            return Ok(Mode::Ward { patients: DEFAULT_WARD });
        };
        let count = self.beds_per_pod;
        let first = ordinal
            .checked_mul(u64::from(count))
            .filter(|first| first.checked_add(u64::from(count)).is_some())
            .ok_or(ConfigError::OrdinalTooLarge { ordinal, beds_per_pod: count })?;
        Ok(Mode::Beds { statefulset: statefulset.to_owned(), first, count })
    }

    /// The pod to watch for condition annotations, if any.
    pub fn watched_pod(&self) -> Result<Option<OwnPod>, ConfigError> {
        let pod = match (&self.pod_name, &self.pod_namespace) {
            (Some(name), Some(namespace)) => Some(OwnPod { name: name.clone(), namespace: namespace.clone() }),
            _ => None,
        };
        match (self.watch_pod, pod) {
            (Some(false), _) => Ok(None),
            (Some(true), None) => Err(ConfigError::WatchWithoutPod),
            (_, pod) => Ok(pod),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    #[error("WATCH_POD is on but POD_NAME and POD_NAMESPACE are not both set (give them from the downward API)")]
    WatchWithoutPod,
    #[error("pod ordinal {ordinal} × BEDS_PER_POD {beds_per_pod} is beyond the bed numbers this emulator can count")]
    OrdinalTooLarge { ordinal: u64, beds_per_pod: u32 },
}

fn parse_interval(s: &str) -> Result<Duration, String> {
    let secs: f64 = s.trim().parse().map_err(|_| format!("{s:?} is not a number of seconds"))?;
    // Below 10 ms the emulator would measure its own scheduler, not a monitor.
    if !(0.01..=3600.0).contains(&secs) {
        return Err(format!("{secs} s is outside 0.01–3600 s"));
    }
    Ok(Duration::from_secs_f64(secs))
}

fn parse_mix(s: &str) -> Result<ConditionMix, String> {
    s.parse::<ConditionMix>().map_err(|e| e.to_string())
}

fn parse_nonempty(s: &str) -> Result<String, String> {
    if s.trim().is_empty() { Err("must not be empty".to_owned()) } else { Ok(s.trim().to_owned()) }
}

fn parse_condition(s: &str) -> Result<Condition, String> {
    s.parse::<Condition>().map_err(|e| e.to_string())
}

fn parse_topic(s: &str) -> Result<String, String> {
    let valid =
        !s.is_empty() && s.len() <= 249 && s.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
    if valid { Ok(s.to_owned()) } else { Err(format!("{s:?} is not a Kafka topic name ([a-zA-Z0-9._-], 1–249)")) }
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    fn parse(args: &[&str]) -> Result<Config, clap::Error> {
        Config::try_parse_from(std::iter::once("patient-service").chain(args.iter().copied()))
    }

    #[test]
    fn defaults_are_the_original_assignments() {
        let c = parse(&[]).unwrap();
        assert_eq!(c.kafka_topic, "icu.vitals");
        assert_eq!(c.api_prefix, "/api/v1");
        assert_eq!(c.metrics_interval, Duration::from_secs(5));
        assert_eq!(c.port, 8000);
        assert_eq!(c.mode().unwrap(), Mode::Ward { patients: DEFAULT_WARD });
        assert_eq!(c.watched_pod().unwrap(), None);
    }

    #[test]
    fn a_statefulset_pod_emulates_the_beds_of_its_ordinal() {
        let pod = ["--pod-name", "icu-patients-7", "--pod-namespace", "ward-a"];
        let c = parse(&pod).unwrap();
        assert_eq!(c.mode().unwrap(), Mode::Beds { statefulset: "icu-patients".into(), first: 7, count: 1 });
        assert_eq!(
            c.watched_pod().unwrap(),
            Some(OwnPod { name: "icu-patients-7".into(), namespace: "ward-a".into() })
        );

        let c = parse(&[&pod[..], &["--beds-per-pod", "4"]].concat()).unwrap();
        assert_eq!(c.mode().unwrap(), Mode::Beds { statefulset: "icu-patients".into(), first: 28, count: 4 });
        // Explicit modes win; a name without an ordinal is not a StatefulSet pod.
        let c = parse(&[&pod[..], &["--patients", "3"]].concat()).unwrap();
        assert_eq!(c.mode().unwrap(), Mode::Ward { patients: 3 });
        let c = parse(&["--pod-name", "web-5d8f9c-abcde"]).unwrap();
        assert_eq!(c.mode().unwrap(), Mode::Ward { patients: DEFAULT_WARD });
        assert_eq!(c.watched_pod().unwrap(), None, "no namespace, no watch");

        assert_eq!(parse(&[&pod[..], &["--watch-pod", "off"]].concat()).unwrap().watched_pod().unwrap(), None);
        assert_eq!(parse(&["--watch-pod", "true"]).unwrap().watched_pod(), Err(ConfigError::WatchWithoutPod));
        let huge = parse(&["--pod-name", "icu-patients-18446744073709551615", "--beds-per-pod", "2"]).unwrap();
        assert!(matches!(huge.mode(), Err(ConfigError::OrdinalTooLarge { .. })));
    }

    #[test]
    fn single_patient_uuid_is_derived_from_the_name_unless_given() {
        let c = parse(&["--name", "Ada", "--metrics-interval", "0.5"]).unwrap();
        assert_eq!(c.metrics_interval, Duration::from_millis(500));
        let Mode::Single { uuid, name, .. } = c.mode().unwrap() else { panic!("expected one patient") };
        assert_eq!(name, "Ada");
        assert_eq!(uuid, vitals::identity::patient_uuid_from_name("Ada"));

        let given = "0b3c7f3e-5f7c-4c2a-9a51-1c1f0d7e2b11";
        let c = parse(&["--name", "Ada", "--patient-uuid", given]).unwrap();
        let Mode::Single { uuid, .. } = c.mode().unwrap() else { panic!("expected one patient") };
        assert_eq!(uuid.to_string(), given);
    }

    #[test]
    fn bad_values_are_rejected_with_the_reason() {
        for (args, needle) in [
            (&["--metrics-interval", "0"][..], "outside"),
            (&["--metrics-interval", "soon"][..], "not a number"),
            (&["--metrics-interval=-1"][..], "outside"),
            (&["--name", "Ada", "--patient-uuid", "not-a-uuid"][..], "not-a-uuid"),
            (&["--name", "Ada", "--patients", "3"][..], "cannot be used with"),
            (&["--patient-uuid", "0b3c7f3e-5f7c-4c2a-9a51-1c1f0d7e2b11"][..], "--name"),
            (&["--patients", "0"][..], "0"),
            (&["--name", "Ada", "--condition", "hiccups"][..], "allowed: stable"),
            (&["--kafka-topic", "no spaces"][..], "topic name"),
            (&["--api-prefix", "api"][..], "must start with"),
            (&["--api-prefix", "/:v1"][..], "only letters, digits"),
            (&["--api-prefix", "/*rest"][..], "only letters, digits"),
            (&["--condition-mix", "stable=2,zombie=1"][..], "unknown condition \"zombie\""),
            (&["--condition-mix", "stable"][..], "not condition=weight"),
            (&["--beds-per-pod", "0"][..], "0"),
            (&["--pod-name", " "][..], "must not be empty"),
            (&["--watch-pod", "maybe"][..], "maybe"),
        ] {
            let err = parse(args).expect_err(&format!("{args:?} must be rejected")).to_string();
            assert!(err.contains(needle), "{args:?}: {err}");
        }
    }

    #[test]
    fn prefix_may_be_empty_or_end_with_a_slash() {
        assert_eq!(parse(&["--api-prefix", ""]).unwrap().api_prefix, "");
        assert_eq!(parse(&["--api-prefix", "/ward/"]).unwrap().api_prefix, "/ward");
    }
}
