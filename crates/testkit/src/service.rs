//! A service running in-process on a task of its own, as every suite starts
//! one: its address, a few HTTP helpers, and the stop that checks it ended
//! well. Each service's library hands over `run_until(stop)`; this holds it.

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// Resolves when the test stops the service (the `shutdown` of `run_until`).
pub struct Stop(oneshot::Receiver<()>);

impl Future for Stop {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        // A dropped sender (the test ended without stopping) also means stop.
        Pin::new(&mut self.0).poll(cx).map(|_| ())
    }
}

pub struct Running {
    pub addr: SocketAddr,
    stop: oneshot::Sender<()>,
    task: JoinHandle<anyhow::Result<()>>,
}

impl Running {
    /// Runs a started service (listening on `addr`) until [`Running::stop`]:
    /// `Running::spawn(service.local_addr(), |stop| service.run_until(stop))`.
    pub fn spawn<F>(addr: SocketAddr, run_until: impl FnOnce(Stop) -> F) -> Running
    where
        F: Future<Output = anyhow::Result<()>> + Send + 'static,
    {
        let (stop, stopped) = oneshot::channel();
        let task = tokio::spawn(run_until(Stop(stopped)));
        Running { addr, stop, task }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    pub async fn get(&self, path: &str) -> reqwest::Response {
        reqwest::get(self.url(path)).await.unwrap_or_else(|e| panic!("GET {path}: {e}"))
    }

    /// `GET path`, which must answer 200 with JSON.
    pub async fn json(&self, path: &str) -> serde_json::Value {
        let response = self.get(path).await;
        assert_eq!(response.status(), 200, "GET {path}");
        response.json().await.unwrap_or_else(|e| panic!("GET {path}: {e}"))
    }

    /// The `/metrics` text.
    pub async fn metrics(&self) -> String {
        self.get("/metrics").await.text().await.expect("metrics text")
    }

    /// Whether `/readyz` answers 200.
    pub async fn ready(&self) -> bool {
        reqwest::get(self.url("/readyz")).await.is_ok_and(|r| r.status() == 200)
    }

    /// Stops the service and waits for it: it must end without an error or a panic.
    pub async fn stop(self) {
        let _ = self.stop.send(());
        match self.task.await {
            Ok(outcome) => outcome.expect("the service stops cleanly"),
            Err(e) => std::panic::resume_unwind(e.into_panic()),
        }
    }
}
