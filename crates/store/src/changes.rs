//! Which patients' readings changed: the database announces every committed
//! change to `vital_signs` on a channel (migration `0002_readings_changed`),
//! so a reader can cache what it read and drop it the moment it is stale.

use sqlx::PgPool;
use std::time::Duration;

use sqlx::postgres::{PgListener, PgPoolOptions};
use uuid::Uuid;

/// The channel the triggers notify on.
pub const CHANNEL: &str = "icu_readings_changed";

/// One announcement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReadingsChanged {
    /// Readings of these patients were inserted, updated or deleted.
    Patients(Vec<Uuid>),
    /// Anything may have changed (a TRUNCATE, or a payload this code cannot read).
    All,
    /// Nothing changed: a listener's proof that its connection still delivers.
    Heartbeat,
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
    /// Reads a payload: UUIDs separated by commas, or `*`. Anything else is
    /// taken as "everything changed": a reader that errs that way only loses
    /// its cache, never serves a stale page.
    pub fn parse(payload: &str) -> ReadingsChanged {
        match payload {
            "*" => return ReadingsChanged::All,
            HEARTBEAT => return ReadingsChanged::Heartbeat,
            _ => {}
        }
        let patients: Result<Vec<Uuid>, _> = payload.split(',').map(Uuid::try_parse).collect();
        match patients {
            Ok(patients) => ReadingsChanged::Patients(patients),
            Err(_) => ReadingsChanged::All,
        }
    }
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
    }
}
