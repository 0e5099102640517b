//! librdkafka's mock cluster: a real Kafka-protocol broker on loopback TCP,
//! reachable by other processes too. Topics must be created through it (its
//! CreateTopics API times out) and it keeps at most about 5 MiB per partition.

use std::time::Duration;

use rdkafka::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::{Headers, Message};
use rdkafka::mocking::MockCluster;
use rdkafka::producer::{BaseProducer, DefaultProducerContext, FutureProducer, FutureRecord, Producer};

/// A mock Kafka cluster with one broker, owned by a producer client so that
/// the group join delay can be set to zero (tests join groups in
/// milliseconds). Dropping it shuts the broker down and frees it.
pub struct MockBroker {
    // Field order matters: fields drop in declaration order, so the cluster
    // view (which borrows the owner) goes before the owner it borrows.
    cluster: MockCluster<'static, DefaultProducerContext>,
    _owner: Box<BaseProducer<DefaultProducerContext>>,
    pub bootstrap: String,
}

impl MockBroker {
    pub fn start() -> MockBroker {
        let owner: Box<BaseProducer> =
            Box::new(ClientConfig::new().set("test.mock.num.brokers", "1").create().expect("mock cluster client"));
        // SAFETY: the producer lives on the heap, so this reference stays
        // valid while the Box is moved into the struct; the struct drops the
        // only user of the reference (`cluster`) before the Box, and never
        // hands the reference out.
        let client: &'static BaseProducer = unsafe { &*std::ptr::from_ref(owner.as_ref()) };
        let cluster = client.client().mock_cluster().expect("client owns a mock cluster");
        // SAFETY: the pointer is the live mock cluster of `client`, checked above.
        unsafe {
            let raw = rdkafka_sys::rd_kafka_handle_mock_cluster(client.client().native_ptr());
            rdkafka_sys::rd_kafka_mock_group_initial_rebalance_delay_ms(raw, 0);
        }
        let bootstrap = cluster.bootstrap_servers();
        MockBroker { cluster, _owner: owner, bootstrap }
    }

    pub fn create_topic(&self, name: &str, partitions: i32) {
        self.cluster.create_topic(name, partitions, 1).expect("create topic on mock cluster");
    }

    /// Takes the broker down (connections refused) and back up.
    pub fn set_down(&self, down: bool) {
        let result = if down { self.cluster.broker_down(1) } else { self.cluster.broker_up(1) };
        result.expect("mock broker up/down");
    }

    /// A plain producer for tests that write raw messages.
    pub fn producer(&self) -> FutureProducer {
        ClientConfig::new()
            .set("bootstrap.servers", &self.bootstrap)
            .set("message.timeout.ms", "10000")
            .create()
            .expect("producer")
    }

    /// Sends one raw message and waits for the broker's acknowledgement.
    pub async fn send(&self, producer: &FutureProducer, topic: &str, key: Option<&str>, payload: &[u8]) {
        let mut record = FutureRecord::<str, [u8]>::to(topic).payload(payload);
        if let Some(key) = key {
            record = record.key(key);
        }
        producer.send(record, Duration::from_secs(10)).await.expect("message acknowledged");
    }
}

/// Reads every message on `topics` of the broker at `bootstrap` from the
/// beginning until `idle` passes with nothing new, as an independent consumer
/// would. Blocking: call it from `spawn_blocking` in async tests.
pub fn read_all(bootstrap: &str, topics: &[&str], idle: Duration) -> Vec<Received> {
    {
        let consumer: BaseConsumer = ClientConfig::new()
            .set("bootstrap.servers", bootstrap)
            .set("group.id", format!("reader-{}", uuid::Uuid::new_v4()))
            .set("auto.offset.reset", "earliest")
            .set("enable.auto.commit", "false")
            .set("session.timeout.ms", "3000")
            .set("heartbeat.interval.ms", "500")
            .create()
            .expect("consumer");
        consumer.subscribe(topics).expect("subscribe");
        let mut out = Vec::new();
        let mut last = std::time::Instant::now();
        while last.elapsed() < idle {
            match consumer.poll(Duration::from_millis(100)) {
                Some(Ok(m)) => {
                    last = std::time::Instant::now();
                    let headers = m
                        .headers()
                        .map(|h| {
                            h.iter()
                                .map(|h| (h.key.to_owned(), h.value.map(|v| String::from_utf8_lossy(v).into_owned())))
                                .collect()
                        })
                        .unwrap_or_default();
                    out.push(Received {
                        topic: m.topic().to_owned(),
                        partition: m.partition(),
                        offset: m.offset(),
                        key: m.key().map(|k| String::from_utf8_lossy(k).into_owned()),
                        payload: m.payload().map(<[u8]>::to_vec).unwrap_or_default(),
                        headers,
                        timestamp: m.timestamp().to_millis(),
                    });
                }
                Some(Err(e)) => panic!("consume error: {e}"),
                None => {}
            }
        }
        out
    }
}

/// One consumed message, copied out of librdkafka.
#[derive(Debug, Clone)]
pub struct Received {
    pub topic: String,
    pub partition: i32,
    pub offset: i64,
    pub key: Option<String>,
    pub payload: Vec<u8>,
    pub headers: Vec<(String, Option<String>)>,
    /// The message's Kafka timestamp (the producer's create time), in ms.
    pub timestamp: Option<i64>,
}

impl Received {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.payload).expect("payload is JSON")
    }
}
