//! Test support on real parts: every test gets its own PostgreSQL database
//! and talks to a real Kafka-protocol broker over loopback TCP; a service
//! under test runs in-process with its stop (`Running`).

pub mod cluster;
pub mod kafka;
pub mod postgres;
pub mod service;

pub use kafka::MockBroker;
pub use postgres::TestDatabase;
pub use service::Running;
