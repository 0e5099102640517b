//! The embedded broker of `icu demo`: librdkafka's mock cluster, a real
//! Kafka-protocol broker on 127.0.0.1 that any Kafka client can reach.
//! It keeps about 5 MiB per partition and drops older data, which suits a
//! demo whose data-service consumes as it goes, and nothing else.

use rdkafka::mocking::MockCluster;
use rdkafka::producer::DefaultProducerContext;

#[derive(Debug, thiserror::Error)]
#[error("embedded broker: {0}")]
pub struct BrokerError(#[from] rdkafka::error::KafkaError);

pub struct EmbeddedBroker {
    cluster: MockCluster<'static, DefaultProducerContext>,
}

impl EmbeddedBroker {
    /// Starts a one-broker cluster and creates the ward's topics.
    pub fn start(topics: &[(&str, i32)]) -> Result<Self, BrokerError> {
        let cluster = MockCluster::new(1)?;
        for (name, partitions) in topics {
            cluster.create_topic(name, *partitions, 1)?;
        }
        Ok(EmbeddedBroker { cluster })
    }

    pub fn bootstrap_servers(&self) -> String {
        self.cluster.bootstrap_servers()
    }
}
