//! The data-service's configuration, from flags or the environment.

use std::net::IpAddr;
use std::time::Duration;

use store::DatabaseUrl;

#[derive(Debug, Clone, clap::Parser)]
#[command(name = "data-service", version, about = "Lands the ward's Kafka topics in PostgreSQL, exactly once")]
pub struct Config {
    /// Kafka brokers, comma-separated host:port.
    #[arg(long, env = "KAFKA_BOOTSTRAP_SERVERS", default_value = "localhost:9092")]
    pub kafka_bootstrap_servers: String,
    /// Topic of the readings.
    #[arg(long, env = "KAFKA_TOPIC", default_value = vitals::wire::VITALS_TOPIC)]
    pub kafka_topic: String,
    /// Topic of the admission events.
    #[arg(long, env = "KAFKA_PATIENTS_TOPIC", default_value = vitals::wire::PATIENTS_TOPIC)]
    pub kafka_patients_topic: String,
    /// Consumer group: replicas with the same group share the partitions.
    #[arg(long, env = "KAFKA_GROUP_ID", default_value = "data-service")]
    pub kafka_group_id: String,
    /// How long the group waits for a silent replica before handing its
    /// partitions to the others.
    #[arg(long, env = "KAFKA_SESSION_TIMEOUT_MS", default_value_t = 6000,
          value_parser = clap::value_parser!(u32).range(1000..=300_000))]
    pub kafka_session_timeout_ms: u32,
    /// How long the broker may hold a fetch that finds no new message
    /// (librdkafka's `fetch.wait.max.ms`). A real broker answers as soon as
    /// a message arrives; librdkafka's mock cluster (`icu demo`, the tests)
    /// holds an empty fetch for the whole wait, which then delays readings.
    #[arg(long, env = "KAFKA_FETCH_WAIT_MAX_MS", default_value_t = 500,
          value_parser = clap::value_parser!(u32).range(1..=10_000))]
    pub kafka_fetch_wait_max_ms: u32,
    /// PostgreSQL holding the ward.
    #[arg(long, env = "DATABASE_URL", hide_env_values = true, value_parser = store::DatabaseUrlParser)]
    pub database_url: DatabaseUrl,
    /// Database connections this replica may hold.
    #[arg(long, env = "DB_POOL_SIZE", default_value_t = 4, value_parser = clap::value_parser!(u32).range(1..=100))]
    pub db_pool_size: u32,
    /// A batch is landed when it holds this many messages…
    #[arg(long, env = "BATCH_MAX_MESSAGES", default_value_t = 5000,
          value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub batch_max_messages: u32,
    /// …or when its first message has waited this long (milliseconds).
    #[arg(long, env = "BATCH_MAX_WAIT_MS", default_value_t = 200,
          value_parser = clap::value_parser!(u64).range(1..=60_000))]
    pub batch_max_wait_ms: u64,
    /// Seconds between sweeps of the queue (readings whose patient arrived late).
    #[arg(long, env = "SWEEP_INTERVAL", default_value_t = 5,
          value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub sweep_interval: u64,
    /// Address of the probes and metrics.
    #[arg(long, env = "HOST", default_value = "0.0.0.0")]
    pub host: IpAddr,
    /// Port of the probes and metrics (0 picks a free one).
    #[arg(long, env = "PORT", default_value_t = 8001)]
    pub port: u16,
    /// Debug logging.
    #[arg(long, env = "DEBUG")]
    pub debug: bool,
}

impl Config {
    pub fn batch_max_wait(&self) -> Duration {
        Duration::from_millis(self.batch_max_wait_ms)
    }

    pub fn topics(&self) -> store::ingest::Topics {
        store::ingest::Topics { vitals: self.kafka_topic.clone(), patients: self.kafka_patients_topic.clone() }
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    fn parse(args: &[&str]) -> Result<Config, clap::Error> {
        let mut all = vec!["data-service", "--database-url", "postgres://ward:s3cret@db/icu"];
        all.extend_from_slice(args);
        Config::try_parse_from(all)
    }

    #[test]
    fn defaults() {
        let c = parse(&[]).unwrap();
        assert_eq!((c.kafka_topic.as_str(), c.kafka_patients_topic.as_str()), ("icu.vitals", "icu.patients"));
        assert_eq!(c.kafka_group_id, "data-service");
        assert_eq!(c.port, 8001);
        assert_eq!(c.batch_max_wait(), Duration::from_millis(200));
        assert_eq!(c.kafka_fetch_wait_max_ms, 500, "librdkafka's own default");
    }

    #[test]
    fn bad_values_are_rejected_without_leaking_the_password() {
        for (args, needle) in [
            (&["--batch-max-messages", "0"][..], "batch-max-messages"),
            (&["--batch-max-wait-ms", "soon"][..], "batch-max-wait-ms"),
            (&["--kafka-session-timeout-ms", "10"][..], "kafka-session-timeout-ms"),
            (&["--kafka-fetch-wait-max-ms", "0"][..], "kafka-fetch-wait-max-ms"),
            (&["--port", "70000"][..], "port"),
        ] {
            let err = parse(args).expect_err(&format!("{args:?}")).to_string();
            assert!(err.contains(needle), "{args:?}: {err}");
        }
        let err =
            Config::try_parse_from(["data-service", "--database-url", "mysql://u:s3cret@h/d"]).unwrap_err().to_string();
        assert!(!err.contains("s3cret") && err.contains("PostgreSQL"), "{err}");
    }
}
