//! Test support on real parts: every test gets its own PostgreSQL database
//! and talks to a real Kafka-protocol broker over loopback TCP.

pub mod cluster;
pub mod kafka;
pub mod postgres;

pub use kafka::MockBroker;
pub use postgres::TestDatabase;
