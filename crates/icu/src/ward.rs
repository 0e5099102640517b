//! `icu ward status` and `icu ward scale N`: the ward as it runs in
//! Kubernetes. The beds are the pods of the patients' StatefulSet; who lies
//! in each bed follows from the pod's name exactly as the emulator derives it
//! (`vitals::identity`), and the latest vitals and NEWS2 come from the
//! monitor-service API. The cluster is reached the way kubectl reaches it
//! (`KUBECONFIG`, `~/.kube/config`, or the in-cluster service account).

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use k8s_openapi::api::apps::v1::StatefulSet;
use k8s_openapi::api::core::v1::{EnvVar, Pod};
use kube::api::{ListParams, Patch, PatchParams};
use kube::{Api, Client, ResourceExt as _};
use patient_service::pod_watch::CONDITION_ANNOTATION;
use patient_service::ward::configured_condition;
use serde::Deserialize;
use uuid::Uuid;
use vitals::{Condition, ConditionMix};

#[derive(Debug, clap::Args)]
pub struct WardArgs {
    #[command(subcommand)]
    pub command: WardCommand,
}

#[derive(Debug, clap::Subcommand)]
pub enum WardCommand {
    /// One line per bed: pod, phase, patient, condition, latest vitals and NEWS2.
    Status(StatusArgs),
    /// Set the number of patient pods (the StatefulSet's scale subresource).
    Scale(ScaleArgs),
}

/// Which ward: the release's patient StatefulSet in a namespace.
#[derive(Debug, Clone, clap::Args)]
pub struct Target {
    /// Namespace of the release (default: the kubeconfig context's).
    #[arg(long, short = 'n', env = "ICU_NAMESPACE")]
    pub namespace: Option<String>,
    /// Helm release name; the patients' StatefulSet is `<release>-patients`.
    #[arg(long, env = "ICU_RELEASE", default_value = "icu-monitor")]
    pub release: String,
    /// The patients' StatefulSet, when it is not `<release>-patients`.
    #[arg(long)]
    pub statefulset: Option<String>,
}

impl Target {
    pub fn statefulset(&self) -> String {
        self.statefulset.clone().unwrap_or_else(|| format!("{}-patients", self.release))
    }

    fn namespace<'a>(&'a self, client: &'a Client) -> &'a str {
        self.namespace.as_deref().unwrap_or(client.default_namespace())
    }
}

#[derive(Debug, clap::Args)]
pub struct StatusArgs {
    #[command(flatten)]
    pub target: Target,
    /// The monitor-service API, with its prefix (e.g. through
    /// `kubectl port-forward svc/icu-monitor-monitor 8002`).
    #[arg(long, env = "ICU_API_URL", default_value = "http://localhost:8002/api/v1")]
    pub api_url: String,
    /// Bearer token for the API, when it requires one.
    #[arg(long, env = "ICU_API_TOKEN", hide_env_values = true)]
    pub api_token: Option<String>,
}

#[derive(Debug, clap::Args)]
pub struct ScaleArgs {
    #[command(flatten)]
    pub target: Target,
    /// Patient pods wanted (each emulates `BEDS_PER_POD` beds).
    #[arg(value_parser = clap::value_parser!(i32).range(0..=100_000))]
    pub replicas: i32,
}

#[derive(Debug, thiserror::Error)]
pub enum WardError {
    #[error("no Kubernetes cluster configured (KUBECONFIG, ~/.kube/config or a service account): {0}")]
    NoCluster(#[source] kube::Error),
    #[error("no StatefulSet {name:?} in namespace {namespace:?} (set --release, --statefulset or --namespace)")]
    NoStatefulSet { name: String, namespace: String },
    #[error("StatefulSet {0:?} has no label selector to find its pods by")]
    NoSelector(String),
    #[error("StatefulSet {statefulset:?} sets {variable}={value:?}, which the emulator refuses: {reason}")]
    BadSetting { statefulset: String, variable: &'static str, value: String, reason: String },
    #[error("Kubernetes API: {0}")]
    Kube(#[from] kube::Error),
}

pub async fn run(args: WardArgs) -> anyhow::Result<()> {
    let client = Client::try_default().await.map_err(WardError::NoCluster)?;
    match args.command {
        WardCommand::Status(args) => {
            let api = MonitorApi { url: args.api_url.clone(), token: args.api_token.clone() };
            let ward = status(&client, &args.target, &api).await?;
            if let Some(problem) = &ward.api_problem {
                eprintln!("latest vitals unavailable: {problem}");
            }
            print!("{}", render(&ward.beds, Utc::now()));
        }
        WardCommand::Scale(args) => {
            let replicas = scale(&client, &args.target, args.replicas).await?;
            println!("statefulset/{} scaled to {replicas}", args.target.statefulset());
        }
    }
    Ok(())
}

/// Patches the StatefulSet's scale subresource (what `kubectl scale` does);
/// returns the replicas the API server now holds.
#[tracing::instrument(skip_all, fields(replicas))]
pub async fn scale(client: &Client, target: &Target, replicas: i32) -> Result<i32, WardError> {
    let name = target.statefulset();
    let namespace = target.namespace(client);
    let sets: Api<StatefulSet> = Api::namespaced(client.clone(), namespace);
    let patch = serde_json::json!({"spec": {"replicas": replicas}});
    let scaled = sets.patch_scale(&name, &PatchParams::default(), &Patch::Merge(&patch)).await.map_err(|e| {
        not_found_as(e, || WardError::NoStatefulSet { name: name.clone(), namespace: namespace.to_owned() })
    })?;
    Ok(scaled.spec.and_then(|s| s.replicas).unwrap_or(replicas))
}

/// Where the ward's latest readings come from.
#[derive(Debug, Clone)]
pub struct MonitorApi {
    pub url: String,
    pub token: Option<String>,
}

/// The ward: one entry per bed, and why the vitals are missing if the API could not be asked.
#[derive(Debug)]
pub struct WardStatus {
    pub beds: Vec<BedStatus>,
    pub api_problem: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct BedStatus {
    pub pod: String,
    pub phase: String,
    pub bed: String,
    pub uuid: Uuid,
    pub patient: String,
    /// The pod's annotation when it names a condition, else the configured one.
    pub condition: Condition,
    /// The annotation's value when it names no condition.
    pub bad_annotation: Option<String>,
    pub latest: Option<Latest>,
}

/// The part of monitor-service's `PatientView` this command shows.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Latest {
    pub timestamp: DateTime<Utc>,
    pub pulse: i16,
    pub resp_rate: i16,
    pub bp: String,
    pub spo2: i16,
    pub temperature: f64,
    pub news2: News2,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct News2 {
    pub score: i16,
    pub band: String,
}

#[derive(Debug, Deserialize)]
struct PatientList {
    patients: Vec<ApiPatient>,
}

#[derive(Debug, Deserialize)]
struct ApiPatient {
    uuid: Uuid,
    latest: Option<Latest>,
}

/// The emulator's settings as the StatefulSet's pod template gives them.
struct EmulatorSettings {
    beds_per_pod: u64,
    seed: u64,
    mix: Option<ConditionMix>,
}

#[tracing::instrument(skip_all)]
pub async fn status(client: &Client, target: &Target, api: &MonitorApi) -> Result<WardStatus, WardError> {
    let name = target.statefulset();
    let namespace = target.namespace(client);
    let sets: Api<StatefulSet> = Api::namespaced(client.clone(), namespace);
    let set = sets.get(&name).await.map_err(|e| {
        not_found_as(e, || WardError::NoStatefulSet { name: name.clone(), namespace: namespace.to_owned() })
    })?;
    let selector = set
        .spec
        .as_ref()
        .and_then(|s| s.selector.match_labels.as_ref())
        .filter(|labels| !labels.is_empty())
        .map(|labels| labels.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join(","))
        .ok_or_else(|| WardError::NoSelector(name.clone()))?;
    let settings = settings(&set, &name)?;

    let pods: Api<Pod> = Api::namespaced(client.clone(), namespace);
    let mut pods: Vec<(u64, Pod)> = pods
        .list(&ListParams::default().labels(&selector))
        .await?
        .items
        .into_iter()
        .filter_map(|pod| {
            let (set_name, ordinal) = vitals::identity::statefulset_ordinal(pod.metadata.name.as_deref()?)?;
            (set_name == name).then_some((ordinal, pod))
        })
        .collect();
    pods.sort_by_key(|(ordinal, _)| *ordinal);

    let (mut latest, api_problem) = match latest_readings(api).await {
        Ok(latest) => (latest, None),
        Err(problem) => (HashMap::new(), Some(problem)),
    };
    let mut beds = Vec::new();
    for (ordinal, pod) in &pods {
        let annotation = pod.annotations().get(CONDITION_ANNOTATION);
        let annotated = annotation.and_then(|a| a.parse::<Condition>().ok());
        let first = ordinal.saturating_mul(settings.beds_per_pod);
        for bed in first..first.saturating_add(settings.beds_per_pod) {
            let id = vitals::identity::bed_identity(&name, bed, settings.seed);
            beds.push(BedStatus {
                pod: pod.name_any(),
                phase: pod.status.as_ref().and_then(|s| s.phase.clone()).unwrap_or_else(|| "Unknown".into()),
                bed: id.bed,
                uuid: id.uuid,
                patient: id.name,
                condition: annotated.unwrap_or_else(|| configured_condition(settings.seed, settings.mix.as_ref(), bed)),
                bad_annotation: annotation.filter(|_| annotated.is_none()).cloned(),
                latest: latest.remove(&id.uuid).flatten(),
            });
        }
    }
    Ok(WardStatus { beds, api_problem })
}

fn settings(set: &StatefulSet, name: &str) -> Result<EmulatorSettings, WardError> {
    let env: Vec<&EnvVar> = set
        .spec
        .as_ref()
        .and_then(|s| s.template.spec.as_ref())
        .map(|p| p.containers.iter().flat_map(|c| c.env.iter().flatten()).collect())
        .unwrap_or_default();
    // Only literal values can be read here; one from a ConfigMap counts as unset.
    let literal = |variable: &str| env.iter().find(|e| e.name == variable).and_then(|e| e.value.clone());
    let bad = |variable: &'static str, value: &str, reason: String| WardError::BadSetting {
        statefulset: name.to_owned(),
        variable,
        value: value.to_owned(),
        reason,
    };
    let beds_per_pod = match literal("BEDS_PER_POD") {
        None => 1,
        Some(v) => v
            .trim()
            .parse::<u64>()
            .ok()
            .filter(|&n| n >= 1)
            .ok_or_else(|| bad("BEDS_PER_POD", &v, "not a whole number ≥ 1".into()))?,
    };
    let seed = match literal("SEED") {
        None => 1,
        Some(v) => v.trim().parse::<u64>().map_err(|e| bad("SEED", &v, e.to_string()))?,
    };
    let mix = match literal("CONDITION_MIX") {
        None => None,
        Some(v) => Some(v.parse::<ConditionMix>().map_err(|e| bad("CONDITION_MIX", &v, e.to_string()))?),
    };
    Ok(EmulatorSettings { beds_per_pod, seed, mix })
}

/// Every patient's latest reading, by UUID; a readable reason when the API cannot be asked.
async fn latest_readings(api: &MonitorApi) -> Result<HashMap<Uuid, Option<Latest>>, String> {
    let url = format!("{}/patients", api.url.trim_end_matches('/'));
    let mut request = reqwest::Client::new().get(&url).timeout(std::time::Duration::from_secs(10));
    if let Some(token) = &api.token {
        request = request.bearer_auth(token);
    }
    let response = request.send().await.map_err(|e| format!("GET {url}: {e}"))?;
    if !response.status().is_success() {
        return Err(format!("GET {url}: {}", response.status()));
    }
    let list: PatientList = response.json().await.map_err(|e| format!("GET {url}: {e}"))?;
    Ok(list.patients.into_iter().map(|p| (p.uuid, p.latest)).collect())
}

fn not_found_as(error: kube::Error, other: impl FnOnce() -> WardError) -> WardError {
    match &error {
        kube::Error::Api(status) if status.is_not_found() => other(),
        _ => WardError::Kube(error),
    }
}

/// The beds as a table, columns padded to their widest cell.
pub fn render(beds: &[BedStatus], now: DateTime<Utc>) -> String {
    let header =
        ["POD", "PHASE", "BED", "PATIENT", "CONDITION", "PULSE", "RESP", "BP", "SPO2", "TEMP", "NEWS2", "SEEN"];
    let mut rows: Vec<Vec<String>> = vec![header.iter().map(|h| (*h).to_owned()).collect()];
    for b in beds {
        let condition = match &b.bad_annotation {
            Some(bad) => format!("{} (annotation {bad:?} ignored)", b.condition),
            None => b.condition.to_string(),
        };
        let mut row = vec![b.pod.clone(), b.phase.clone(), b.bed.clone(), b.patient.clone(), condition];
        match &b.latest {
            Some(r) => row.extend([
                r.pulse.to_string(),
                r.resp_rate.to_string(),
                r.bp.clone(),
                r.spo2.to_string(),
                format!("{:.1}", r.temperature),
                format!("{} {}", r.news2.score, r.news2.band),
                format!("{}s ago", (now - r.timestamp).num_seconds().max(0)),
            ]),
            None => row.extend(std::iter::repeat_n("-".to_owned(), 7)),
        }
        rows.push(row);
    }
    let widths: Vec<usize> =
        (0..header.len()).map(|i| rows.iter().map(|r| r[i].chars().count()).max().unwrap_or(0)).collect();
    let mut out = String::new();
    for row in rows {
        let cells: Vec<String> = row.iter().zip(&widths).map(|(cell, &w)| format!("{cell:<w$}")).collect();
        out.push_str(cells.join("  ").trim_end());
        out.push('\n');
    }
    out
}
