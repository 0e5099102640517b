//! The ward reacts to kubectl: a patient pod watches its own Pod and applies
//! the annotation `icu-monitor.io/condition` to every bed it emulates, so
//! `kubectl annotate pod icu-patients-3 icu-monitor.io/condition=sepsis`
//! makes that patient deteriorate from the next reading on. Removing the
//! annotation returns the beds to their configured conditions. A value that
//! names no condition is logged and reported as a Warning event on the Pod;
//! the beds keep what they had. Nothing the API server sends stops the
//! emulator: watch errors are retried with backoff for as long as it runs.

use std::future::Future;
use std::sync::Arc;

use futures::StreamExt as _;
use k8s_openapi::api::core::v1::Pod;
use kube::runtime::events::{Event, EventType, Recorder, Reporter};
use kube::runtime::{WatchStreamExt as _, watcher};
use kube::{Api, Client, Resource as _, ResourceExt as _};
use vitals::Condition;

use crate::ward::Ward;

/// The annotation that sets the condition of every bed of a pod.
pub const CONDITION_ANNOTATION: &str = "icu-monitor.io/condition";
/// Events name this as their reporting controller.
const REPORTER: &str = "patient-service";
/// An annotation value may be up to 256 KiB; logs and events quote at most this much of it.
const QUOTED_CHARS: usize = 64;

/// The pod this emulator runs in (downward API).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OwnPod {
    pub name: String,
    pub namespace: String,
}

pub struct PodWatch {
    client: Client,
    pod: OwnPod,
    ward: Arc<Ward>,
    recorder: Recorder,
}

impl PodWatch {
    pub fn new(client: Client, pod: OwnPod, ward: Arc<Ward>) -> PodWatch {
        let reporter = Reporter { controller: REPORTER.into(), instance: Some(pod.name.clone()) };
        let recorder = Recorder::new(client.clone(), reporter);
        PodWatch { client, pod, ward, recorder }
    }

    /// Follows the pod until `stop` resolves.
    #[tracing::instrument(skip_all, fields(pod = %self.pod.name, namespace = %self.pod.namespace))]
    pub async fn run(self, stop: impl Future<Output = ()>) {
        // Namespaced: a field selector on the name alone would match same-named pods elsewhere.
        let pods: Api<Pod> = Api::namespaced(self.client.clone(), &self.pod.namespace);
        // `watch_object` lists then watches with `fieldSelector=metadata.name=<pod>`; the
        // watcher resumes from the last resource version or re-lists, and the backoff
        // (0.8 s doubling to 30 s, jittered) spaces the retries after errors.
        let updates = watcher::watch_object(pods, &self.pod.name).default_backoff();
        tokio::pin!(updates, stop);
        let mut applied = Annotation::default();
        loop {
            let update = tokio::select! {
                () = &mut stop => return,
                update = updates.next() => update,
            };
            match update {
                Some(Ok(Some(pod))) => self.on_pod(&pod, &mut applied).await,
                Some(Ok(None)) => tracing::warn!("own pod not found (deleted?); watching for it to return"),
                Some(Err(error)) => tracing::warn!(%error, "watching the own pod failed; retrying with backoff"),
                None => {
                    // `watcher` streams never end; should one, the beds simply keep their conditions.
                    tracing::error!("the pod watch ended; annotations no longer apply");
                    return;
                }
            }
        }
    }

    async fn on_pod(&self, pod: &Pod, applied: &mut Annotation) {
        let value = pod.annotations().get(CONDITION_ANNOTATION).cloned();
        // Pods change for many reasons (status, other annotations): only a
        // change of this annotation acts, so a condition set through the
        // control API is not overwritten by an unrelated update.
        if applied.0 == value {
            return;
        }
        applied.0.clone_from(&value);
        let Some(value) = value else {
            self.ward.restore_configured();
            tracing::info!(
                annotation = CONDITION_ANNOTATION,
                "annotation removed: beds back to their configured conditions"
            );
            return;
        };
        match value.parse::<Condition>() {
            Ok(condition) => {
                self.ward.set_all(condition);
                tracing::info!(%condition, beds = self.ward.len(), "condition applied from the pod's annotation");
            }
            Err(_) => self.report_bad_value(pod, &value).await,
        }
    }

    async fn report_bad_value(&self, pod: &Pod, value: &str) {
        let quoted: String = value.chars().take(QUOTED_CHARS).collect();
        let note = format!(
            "{CONDITION_ANNOTATION}={quoted:?}{} names no condition; allowed: {}; the beds keep their conditions",
            if quoted.len() < value.len() { "…" } else { "" },
            Condition::NAMES.join(", ")
        );
        tracing::warn!(annotation = CONDITION_ANNOTATION, value = %quoted, "{note}");
        let event = Event {
            type_: EventType::Warning,
            reason: "InvalidCondition".into(),
            note: Some(note),
            action: "ApplyCondition".into(),
            secondary: None,
        };
        if let Err(error) = self.recorder.publish(&event, &pod.object_ref(&())).await {
            tracing::warn!(%error, "could not report the invalid annotation as a Pod event");
        }
    }
}

/// The annotation's value last acted on (`None`: absent).
#[derive(Debug, Default)]
struct Annotation(Option<String>);
