//! Hears the database's announcements of changed readings and applies them
//! to the page cache; reconnects with backoff when the connection is lost.

use std::sync::Arc;
use std::time::Duration;

use sqlx::PgPool;
use store::changes::ChangeListener;
use tokio::sync::watch;

use crate::page_cache::PageCache;

const RETRY_FIRST: Duration = Duration::from_millis(200);
const RETRY_MAX: Duration = Duration::from_secs(5);

/// Runs until `stop` turns true. The cache caches only while a listener is
/// connected, and starts over at each connection.
#[tracing::instrument(skip_all)]
pub async fn follow(pool: PgPool, cache: Arc<PageCache>, mut stop: watch::Receiver<bool>) {
    let mut retry = RETRY_FIRST;
    loop {
        let connected = tokio::select! {
            _ = stop.wait_for(|s| *s) => return,
            connected = ChangeListener::connect(&pool) => connected,
        };
        match connected {
            Ok(mut listener) => {
                cache.set_listening(true);
                retry = RETRY_FIRST;
                tracing::debug!("listening for changed readings");
                loop {
                    let next = tokio::select! {
                        _ = stop.wait_for(|s| *s) => return,
                        next = listener.next() => next,
                    };
                    match next {
                        Ok(Some(change)) => cache.changed(&change),
                        Ok(None) => {
                            tracing::warn!("lost the database connection announcing changed readings; page cache off");
                            break;
                        }
                        Err(e) => {
                            tracing::warn!(error = %e, "announcements of changed readings failed; page cache off");
                            break;
                        }
                    }
                }
                cache.set_listening(false);
            }
            Err(e) => tracing::debug!(error = %e, "cannot listen for changed readings yet"),
        }
        tokio::select! {
            _ = stop.wait_for(|s| *s) => return,
            _ = tokio::time::sleep(retry) => {}
        }
        retry = (retry * 2).min(RETRY_MAX);
    }
}
