//! A standalone librdkafka mock broker for benchmarks and manual runs:
//! `mock-broker icu.vitals:6 icu.patients:3` prints `bootstrap=127.0.0.1:PORT`
//! and serves until stdin closes or the process is killed.

use std::io::{BufRead, Write};

fn main() {
    let broker = testkit::MockBroker::start();
    for spec in std::env::args().skip(1) {
        let (topic, partitions) = spec.split_once(':').unwrap_or((spec.as_str(), "1"));
        let partitions: i32 = partitions.parse().unwrap_or_else(|_| panic!("{spec}: expected TOPIC:PARTITIONS"));
        broker.create_topic(topic, partitions);
    }
    println!("bootstrap={}", broker.bootstrap);
    let _ = std::io::stdout().flush();
    // Serve until whoever started us goes away.
    for _ in std::io::stdin().lock().lines() {}
}
