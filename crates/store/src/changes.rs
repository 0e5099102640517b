//! Which patients' readings changed: the database announces every committed
//! change to `vital_signs` on a channel (migration `0002_readings_changed`),
//! so a reader can cache what it read and drop it the moment it is stale.
//! Inserts name each stored reading, and admissions are announced too
//! (migration `0005_stream_announcements`), so the live stream can fetch
//! exactly what a commit added.

use sqlx::PgPool;
use std::time::Duration;

use chrono::{DateTime, Utc};

use sqlx::postgres::{PgListener, PgPoolOptions};
use uuid::Uuid;

/// The channel the triggers notify on.
pub const CHANNEL: &str = "icu_readings_changed";

/// One announcement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReadingsChanged {
    /// Readings of these patients were updated or deleted.
    Patients(Vec<Uuid>),
    /// These readings were stored (inserted), per patient in time order.
    Stored(Vec<ReadingKey>),
    /// These patients were admitted, or their name, bed or admission time changed.
    Admitted(Vec<Uuid>),
    /// Anything may have changed (a TRUNCATE, or a payload this code cannot read).
    All,
    /// Nothing changed: a listener's proof that its connection still delivers.
    Heartbeat,
}

/// A stored reading's primary key: its patient and the instant it was measured.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ReadingKey {
    pub patient: Uuid,
    pub measured_at: DateTime<Utc>,
}

/// The payload of a heartbeat ([`heartbeat`]).
const HEARTBEAT: &str = "heartbeat";

/// Ends a listening connection that fell silent, from the server's side:
/// otherwise its client would wait on it (sqlx unlistens on drop) until TCP
/// gives up, minutes later.
pub async fn end_listener(pool: &PgPool, backend_pid: i32) -> crate::Result<()> {
    sqlx::query("SELECT pg_terminate_backend($1)").bind(backend_pid).execute(pool).await?;
    Ok(())
}

/// Announces nothing but that the channel works: a listener that hears no
/// heartbeat for a while knows its connection is dead even when TCP has not
/// said so (a half-open connection would otherwise deliver nothing, silently).
pub async fn heartbeat(pool: &PgPool) -> crate::Result<()> {
    sqlx::query("SELECT pg_notify($1, $2)").bind(CHANNEL).bind(HEARTBEAT).execute(pool).await?;
    Ok(())
}

impl ReadingsChanged {
    /// Reads a payload: `stored:` and reading keys (`uuid@microseconds`),
    /// `admitted:` and UUIDs, UUIDs, or `*`, each list separated by commas.
    /// Anything else is taken as "everything changed": a reader that errs
    /// that way only loses its cache (and the stream's clients resync), never
    /// serves a stale page.
    pub fn parse(payload: &str) -> ReadingsChanged {
        let parsed = match payload {
            "*" => return ReadingsChanged::All,
            HEARTBEAT => return ReadingsChanged::Heartbeat,
            _ => match (payload.strip_prefix("stored:"), payload.strip_prefix("admitted:")) {
                (Some(keys), _) => keys.split(',').map(parse_key).collect::<Option<_>>().map(ReadingsChanged::Stored),
                (_, Some(uuids)) => uuids_in(uuids).map(ReadingsChanged::Admitted),
                _ => uuids_in(payload).map(ReadingsChanged::Patients),
            },
        };
        parsed.unwrap_or(ReadingsChanged::All)
    }

    /// The patients whose readings changed (none for an admission or a
    /// heartbeat; `None` for everything), each once.
    pub fn patients(&self) -> Option<Vec<Uuid>> {
        match self {
            ReadingsChanged::All => None,
            ReadingsChanged::Heartbeat | ReadingsChanged::Admitted(_) => Some(Vec::new()),
            ReadingsChanged::Patients(patients) => Some(patients.clone()),
            ReadingsChanged::Stored(keys) => {
                let mut patients: Vec<Uuid> = keys.iter().map(|k| k.patient).collect();
                patients.sort_unstable();
                patients.dedup();
                Some(patients)
            }
        }
    }
}

fn uuids_in(list: &str) -> Option<Vec<Uuid>> {
    list.split(',').map(|u| Uuid::try_parse(u).ok()).collect()
}

fn parse_key(key: &str) -> Option<ReadingKey> {
    let (patient, micros) = key.split_once('@')?;
    Some(ReadingKey {
        patient: Uuid::try_parse(patient).ok()?,
        measured_at: DateTime::from_timestamp_micros(micros.parse().ok()?)?,
    })
}

/// A connection of its own (not one of the service's pool) that listens on [`CHANNEL`].
pub struct ChangeListener {
    listener: PgListener,
    backend_pid: i32,
}

impl ChangeListener {
    /// Connects with the pool's options and starts listening. Changes committed
    /// before this returns are not announced to it.
    pub async fn connect(pool: &PgPool) -> crate::Result<ChangeListener> {
        // sqlx's listener keeps a connection of the pool it is given for
        // good: a pool of its own leaves the service's pool whole (with
        // DB_POOL_SIZE=1 it would otherwise be empty).
        let own = PgPoolOptions::new()
            .max_connections(1)
            .acquire_timeout(Duration::from_secs(5))
            .connect_with((*pool.connect_options()).clone())
            .await?;
        let mut listener = PgListener::connect_with(&own).await?;
        // Report a lost connection at once rather than after reconnecting:
        // the caller starts over with a new listener either way.
        listener.eager_reconnect(false);
        let backend_pid: i32 = sqlx::query_scalar("SELECT pg_backend_pid()").fetch_one(&mut listener).await?;
        listener.listen(CHANNEL).await?;
        Ok(ChangeListener { listener, backend_pid })
    }

    /// The server process serving this connection, to end it from elsewhere
    /// ([`end_listener`]) when it has fallen silent.
    pub fn backend_pid(&self) -> i32 {
        self.backend_pid
    }

    /// The next announcement; `Ok(None)` when the connection was lost, so
    /// that announcements may have been missed (sqlx reconnects by itself,
    /// but a cache must hear of the gap: the caller starts over).
    pub async fn next(&mut self) -> crate::Result<Option<ReadingsChanged>> {
        Ok(self.listener.try_recv().await?.map(|n| ReadingsChanged::parse(n.payload())))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payloads_are_patients_or_everything() {
        let (a, b) = (Uuid::new_v4(), Uuid::new_v4());
        assert_eq!(ReadingsChanged::parse(&format!("{a},{b}")), ReadingsChanged::Patients(vec![a, b]));
        assert_eq!(ReadingsChanged::parse("*"), ReadingsChanged::All);
        assert_eq!(ReadingsChanged::parse("heartbeat"), ReadingsChanged::Heartbeat);
        assert_eq!(ReadingsChanged::parse(""), ReadingsChanged::All);
        assert_eq!(ReadingsChanged::parse(&format!("{a},not-a-uuid")), ReadingsChanged::All);
        let at = DateTime::parse_from_rfc3339("2026-11-25T08:00:00.123456Z").unwrap().to_utc();
        let stored = ReadingsChanged::parse(&format!("stored:{a}@{},{b}@0", at.timestamp_micros()));
        let epoch = DateTime::from_timestamp_micros(0).unwrap();
        assert_eq!(
            stored,
            ReadingsChanged::Stored(vec![
                ReadingKey { patient: a, measured_at: at },
                ReadingKey { patient: b, measured_at: epoch }
            ])
        );
        assert_eq!(ReadingsChanged::parse(&format!("admitted:{b},{a}")), ReadingsChanged::Admitted(vec![b, a]));
        assert_eq!(ReadingsChanged::parse(&format!("stored:{a}@soon")), ReadingsChanged::All);
        assert_eq!(ReadingsChanged::parse(&format!("stored:{a}")), ReadingsChanged::All);
        assert_eq!(ReadingsChanged::parse("admitted:"), ReadingsChanged::All);
    }
}
