//! Hears the database's announcements of changed readings and applies them
//! to the page cache and hands them to the live stream's feed; reconnects
//! with backoff when the connection is lost.
//!
//! A connection can also die without TCP saying so (a half-open connection
//! after a network partition): it then delivers nothing, silently. So every
//! replica sends a heartbeat on the channel, and a listener that hears
//! nothing at all (no change, no heartbeat of any replica) for three
//! heartbeats is taken for dead: the cache turns off and a new connection is
//! made. A page is therefore never served more than about three heartbeats
//! after a change was committed.

use std::sync::Arc;
use std::time::Duration;

use sqlx::PgPool;
use sqlx::postgres::PgPoolOptions;
use store::changes::{ChangeListener, ReadingsChanged};
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;

use crate::page_cache::PageCache;
use crate::stream::Feed;

const RETRY_FIRST: Duration = Duration::from_millis(200);
const RETRY_MAX: Duration = Duration::from_secs(5);
/// Heartbeats missed before the listening connection is taken for dead.
const SILENT_HEARTBEATS: u32 = 3;

/// What the listening task reports.
type Heard = store::Result<Option<ReadingsChanged>>;

/// Runs until `stop` turns true. The cache caches only while a listener is
/// connected and heard from, and starts over at each connection.
#[tracing::instrument(skip_all)]
pub async fn follow(
    pool: PgPool,
    cache: Arc<PageCache>,
    feed: Feed,
    heartbeat: Duration,
    mut stop: watch::Receiver<bool>,
) {
    // Heartbeats go out on a connection of their own: a pool busy with
    // requests must not silence them (which would turn the cache off under
    // load, when it is needed most).
    let beats = PgPoolOptions::new()
        .max_connections(1)
        .acquire_timeout(heartbeat)
        .connect_lazy_with((*pool.connect_options()).clone());
    let beating = tokio::spawn(beat(beats, heartbeat));
    // Off whatever happens to this task, even a panic.
    let _off = NotListening(&cache);
    let mut retry = RETRY_FIRST;
    let mut first = true;
    loop {
        let connected = tokio::select! {
            () = stopped(&mut stop) => break,
            connected = ChangeListener::connect(&pool) => connected,
        };
        match connected {
            Ok(listener) => {
                cache.set_listening(true);
                // Commits while nobody listened were never heard: the
                // stream's clients reload and the alerts are derived anew
                // (after listening resumed, so that what they reload cannot
                // miss anything either).
                feed.listening(std::mem::take(&mut first));
                retry = RETRY_FIRST;
                tracing::debug!("listening for changed readings");
                let backend = listener.backend_pid();
                // The listener runs in a task of its own and is never
                // cancelled mid-read; it is dropped whole when taken for dead.
                let (heard, mut hearing) = mpsc::channel::<Heard>(64);
                let task = tokio::spawn(listen(listener, heard));
                let lost = hear(&cache, &feed, heartbeat, &mut hearing, &mut stop).await;
                cache.set_listening(false);
                feed.lost();
                let Some(why) = lost else {
                    task.abort();
                    break;
                };
                tracing::warn!(%why, "announcements of changed readings lost; page cache off");
                // A silent connection would keep its task waiting until TCP
                // gives up: end it from the server's side (best effort).
                let _ = tokio::time::timeout(heartbeat, store::changes::end_listener(&pool, backend)).await;
                task.abort();
            }
            Err(e) => tracing::debug!(error = %e, "cannot listen for changed readings yet"),
        }
        tokio::select! {
            () = stopped(&mut stop) => break,
            _ = tokio::time::sleep(retry) => {}
        }
        retry = (retry * 2).min(RETRY_MAX);
    }
    beating.abort();
}

/// Turns the cache off when dropped.
struct NotListening<'a>(&'a PageCache);

impl Drop for NotListening<'_> {
    fn drop(&mut self) {
        self.0.set_listening(false);
    }
}

async fn listen(mut listener: ChangeListener, heard: mpsc::Sender<Heard>) {
    loop {
        let next = listener.next().await;
        let last = !matches!(next, Ok(Some(_)));
        if heard.send(next).await.is_err() || last {
            return;
        }
    }
}

/// Sends a heartbeat every `every`, each allowed `every` to complete.
async fn beat(pool: PgPool, every: Duration) {
    let mut ticks = tokio::time::interval(every);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticks.tick().await;
        match tokio::time::timeout(every, store::changes::heartbeat(&pool)).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => tracing::debug!(error = %e, "heartbeat not sent"),
            Err(_) => tracing::debug!("heartbeat timed out"),
        }
    }
}

/// Applies what is heard until the connection is lost or falls silent (the
/// reason), or `stop` turns true (`None`).
async fn hear(
    cache: &PageCache,
    feed: &Feed,
    heartbeat: Duration,
    hearing: &mut mpsc::Receiver<Heard>,
    stop: &mut watch::Receiver<bool>,
) -> Option<String> {
    let mut check = tokio::time::interval(heartbeat);
    check.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut last_heard = Instant::now();
    loop {
        tokio::select! {
            // What was heard is applied before silence is judged.
            biased;
            heard = hearing.recv() => match heard {
                Some(Ok(Some(change))) => {
                    last_heard = Instant::now();
                    cache.changed(&change);
                    feed.announce(&change);
                }
                Some(Ok(None)) | None => return Some("the connection was lost".to_owned()),
                Some(Err(e)) => return Some(e.to_string()),
            },
            () = stopped(stop) => return None,
            _ = check.tick() => {
                if last_heard.elapsed() > heartbeat * SILENT_HEARTBEATS {
                    return Some(format!("nothing heard for {:?}", last_heard.elapsed()));
                }
            }
        }
    }
}

/// Resolves once `stop` turns true (or its sender is gone).
async fn stopped(stop: &mut watch::Receiver<bool>) {
    // The guard `wait_for` returns must not live across other awaits.
    let _ = stop.wait_for(|s| *s).await;
}
