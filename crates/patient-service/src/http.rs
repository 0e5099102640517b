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
}

#[derive(Debug, Serialize)]
pub struct PatientList {
    pub patients: Vec<PatientView>,
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
