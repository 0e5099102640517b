//! The harness itself: a fresh database is migrated and isolated, and the mock
//! broker carries keyed messages between independent clients over TCP.

use std::time::Duration;

use testkit::{MockBroker, TestDatabase};

#[tokio::test]
async fn each_test_gets_its_own_migrated_database() {
    let a = TestDatabase::fresh().await;
    let b = TestDatabase::fresh().await;
    assert_ne!(a.name, b.name);
    sqlx::query("INSERT INTO patients (uuid, name, admitted_at) VALUES ($1, 'Ada', now())")
        .bind(uuid::Uuid::new_v4())
        .execute(&a.pool)
        .await
        .unwrap();
    let count = |pool| async move {
        sqlx::query_scalar::<_, i64>("SELECT count(*) FROM patients").fetch_one(pool).await.unwrap()
    };
    assert_eq!(count(&a.pool).await, 1);
    assert_eq!(count(&b.pool).await, 0);
}

#[tokio::test]
async fn mock_broker_carries_keyed_messages_between_clients() {
    let broker = MockBroker::start();
    broker.create_topic("t", 3);
    let producer = broker.producer();
    for i in 0..10 {
        broker.send(&producer, "t", Some(&format!("k{}", i % 2)), format!("{{\"i\":{i}}}").as_bytes()).await;
    }
    let bootstrap = broker.bootstrap.clone();
    let got = tokio::task::spawn_blocking(move || testkit::kafka::read_all(&bootstrap, &["t"], Duration::from_secs(2)))
        .await
        .unwrap();
    assert_eq!(got.len(), 10);
    for key in ["k0", "k1"] {
        let partitions: std::collections::HashSet<_> =
            got.iter().filter(|m| m.key.as_deref() == Some(key)).map(|m| m.partition).collect();
        assert_eq!(partitions.len(), 1, "one key, one partition");
    }
}

#[test]
fn a_dropped_broker_is_shut_down_not_leaked() {
    let broker = MockBroker::start();
    let address: std::net::SocketAddr = broker.bootstrap.split(',').next().unwrap().parse().unwrap();
    assert!(std::net::TcpStream::connect(address).is_ok(), "the broker listens");
    drop(broker);
    assert!(std::net::TcpStream::connect(address).is_err(), "a dropped broker no longer listens on {address}");
}
