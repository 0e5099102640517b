//! The control API: which patients are emulated, and a way to make one ill.

use std::sync::Arc;

use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, State};
use axum::routing::{get, put};
use axum::{Json, Router};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;
use vitals::Condition;

use crate::error::ApiError;
use crate::ward::Ward;

#[derive(Debug, Serialize)]
pub struct PatientView {
    pub uuid: Uuid,
    pub name: String,
    pub bed: Option<String>,
    pub admitted_at: DateTime<Utc>,
    pub condition: Condition,
    /// Whether the bed's monitor sends readings.
    pub monitor_running: bool,
}

#[derive(Debug, Serialize)]
pub struct PatientList {
    pub patients: Vec<PatientView>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MonitorChange {
    pub running: bool,
}

#[derive(Debug, Deserialize)]
pub struct ConditionChange {
    /// Parsed by hand so an unknown name gets a 422 listing the allowed ones.
    pub condition: String,
}

pub fn router(prefix: &str, ward: Arc<Ward>) -> Router {
    Router::new()
        .route(&format!("{prefix}/patients"), get(list))
        .route(&format!("{prefix}/patients/{{uuid}}"), get(one))
        .route(&format!("{prefix}/patients/{{uuid}}/condition"), put(set_condition))
        .route(&format!("{prefix}/patients/{{uuid}}/monitor"), put(set_monitor))
        .with_state(ward)
}

fn view(ward: &Ward, index: usize) -> PatientView {
    let p = &ward.patients()[index];
    PatientView {
        uuid: p.uuid,
        name: p.name.clone(),
        bed: p.bed.clone(),
        admitted_at: p.admitted_at,
        condition: ward.condition(index),
        monitor_running: ward.monitor_running(index),
    }
}

fn parse_uuid(raw: &str) -> Result<Uuid, ApiError> {
    Uuid::parse_str(raw).map_err(|_| ApiError::InvalidUuid(raw.to_owned()))
}

async fn list(State(ward): State<Arc<Ward>>) -> Json<PatientList> {
    Json(PatientList { patients: (0..ward.len()).map(|i| view(&ward, i)).collect() })
}

async fn one(State(ward): State<Arc<Ward>>, Path(uuid): Path<String>) -> Result<Json<PatientView>, ApiError> {
    let uuid = parse_uuid(&uuid)?;
    let index = ward.index_of(uuid).ok_or(ApiError::UnknownPatient(uuid))?;
    Ok(Json(view(&ward, index)))
}

#[tracing::instrument(skip_all)]
async fn set_condition(
    State(ward): State<Arc<Ward>>,
    Path(uuid): Path<String>,
    body: Result<Json<ConditionChange>, JsonRejection>,
) -> Result<Json<PatientView>, ApiError> {
    let uuid = parse_uuid(&uuid)?;
    let index = ward.index_of(uuid).ok_or(ApiError::UnknownPatient(uuid))?;
    let condition: Condition = body?.condition.parse()?;
    ward.set_condition(uuid, condition);
    tracing::info!(%uuid, %condition, "condition changed");
    Ok(Json(view(&ward, index)))
}

#[tracing::instrument(skip_all)]
async fn set_monitor(
    State(ward): State<Arc<Ward>>,
    Path(uuid): Path<String>,
    body: Result<Json<MonitorChange>, JsonRejection>,
) -> Result<Json<PatientView>, ApiError> {
    let uuid = parse_uuid(&uuid)?;
    let index = ward.index_of(uuid).ok_or(ApiError::UnknownPatient(uuid))?;
    let running = body?.running;
    ward.set_monitor_running(uuid, running);
    tracing::info!(%uuid, running, "monitor switched");
    Ok(Json(view(&ward, index)))
}
