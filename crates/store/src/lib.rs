//! PostgreSQL for the ward: migrations, landing of consumed messages
//! (stored, queued, quarantined) and the read queries of the API.

pub mod changes;
pub mod database_url;
pub mod error;
pub mod escalations;
pub mod ingest;
pub mod migrate;
pub mod ward;

pub use database_url::{DatabaseUrl, DatabaseUrlParser};
pub use error::{Error, Result};
pub use migrate::migrate;
