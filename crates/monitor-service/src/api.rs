//! The ward's routes and their handlers. The route table is one list, so the
//! contract test can compare exactly what is served with `api/openapi.yaml`.

use std::sync::Arc;
use std::time::Duration;

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::PathRejection;
use axum::extract::{FromRequestParts, Path, Query, State};
use axum::http::request::Parts;
use axum::http::{HeaderValue, Method, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodRouter, get};
use chrono::{DateTime, TimeDelta, Utc};
use sqlx::PgPool;
use store::ward::StoredReading;
use telemetry::links::ReadingLinks;
use uuid::Uuid;

use crate::alerts::{self, Alerts};
use crate::auth::Caller;
use crate::error::ApiError;
use crate::fhir;
use crate::page_cache::{Lookup, PageCache};
use crate::paging::{Page, ReadingQuery, encode_cursor, next_link};
use crate::stream::Hub;
use crate::stream::sse::{self, Clients, StreamLimits};
use crate::views::{OriginalReading, PatientList, PatientView, ReadingPage, ReadingView};

#[derive(Clone)]
pub struct AppState {
    pub pool: PgPool,
    pub stale_after: Duration,
    pub pages: Arc<PageCache>,
    pub hub: Arc<Hub>,
    pub alerts: Arc<Alerts>,
    pub stream: StreamLimits,
    pub stream_clients: Arc<Clients>,
}

pub type Shared = Arc<AppState>;

/// The original assignment's path (outside `API_PREFIX`).
pub const ORIGINAL_READINGS: &str = "/patient/{uuid}/metrics";

/// Every API route: method, path (under `prefix` unless it is the original
/// assignment's path), handler.
pub fn routes(prefix: &str) -> Vec<(Method, String, MethodRouter<Shared>)> {
    vec![
        (Method::GET, format!("{prefix}/patients"), get(list_patients)),
        (Method::GET, format!("{prefix}/patients/{{uuid}}"), get(get_patient)),
        (Method::GET, format!("{prefix}/patients/{{uuid}}/metrics"), get(list_readings)),
        (Method::GET, format!("{prefix}/stream"), get(sse::stream)),
        (Method::GET, format!("{prefix}/alerts"), get(alerts::list_alerts)),
        (Method::GET, format!("{prefix}/patients/{{uuid}}/fhir/Observation"), get(fhir::observations)),
        (Method::GET, format!("{prefix}/fhir/Patient/{{uuid}}"), get(fhir::patient)),
        // The original assignment's path, in the original shape, for its clients.
        (Method::GET, ORIGINAL_READINGS.to_owned(), get(list_original_readings)),
    ]
}

fn stale_after(state: &AppState) -> TimeDelta {
    TimeDelta::from_std(state.stale_after).unwrap_or(TimeDelta::MAX)
}

fn patient_uuid(path: Result<Path<String>, PathRejection>) -> Result<Uuid, ApiError> {
    let Path(given) = path.map_err(|e| ApiError::Rejected { status: e.status(), detail: e.body_text() })?;
    Uuid::try_parse(&given).map_err(|_| ApiError::InvalidUuid { given })
}

/// The patient a route's path names, opened for the caller: 400 for a bad
/// UUID, 403 (audit-logged either way) for a patient the caller may not see.
pub struct OpenPatient(pub Uuid);

impl<S: Send + Sync> FromRequestParts<S> for OpenPatient {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let uuid = patient_uuid(Path::<String>::from_request_parts(parts, state).await)?;
        Caller::from_request_parts(parts, state).await?.open(uuid)?;
        Ok(OpenPatient(uuid))
    }
}

/// The checked page a readings request asks for (`from`, `to`, `limit`, `cursor`).
pub struct PageQuery(pub Page);

impl<S: Send + Sync> FromRequestParts<S> for PageQuery {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let query = Query::<ReadingQuery>::from_request_parts(parts, state).await;
        let Query(query) = query.map_err(|e| ApiError::Rejected { status: e.status(), detail: e.body_text() })?;
        Ok(PageQuery(query.check()?))
    }
}

async fn list_patients(State(state): State<Shared>, caller: Caller) -> Result<Json<PatientList>, ApiError> {
    let patients = match caller.scope() {
        None => store::ward::patients(&state.pool).await?,
        Some(own) => store::ward::patient(&state.pool, own).await?.into_iter().collect(),
    };
    link_readings(patients.iter().filter_map(|p| p.latest.as_ref()));
    let now = Utc::now();
    let stale_after = stale_after(&state);
    Ok(Json(PatientList { patients: patients.into_iter().map(|p| PatientView::new(p, now, stale_after)).collect() }))
}

async fn get_patient(
    State(state): State<Shared>,
    OpenPatient(uuid): OpenPatient,
) -> Result<Json<PatientView>, ApiError> {
    let patient = store::ward::patient(&state.pool, uuid).await?;
    let patient = patient.ok_or(ApiError::UnknownPatient(uuid))?;
    link_readings(patient.latest.iter());
    Ok(Json(PatientView::new(patient, Utc::now(), stale_after(&state))))
}

/// Cuts the readings (one more than the page was asked for) to the page;
/// the time of its last reading when more follow, where the next page starts.
fn cut_to_page(readings: &mut Vec<StoredReading>, page: &Page) -> Option<DateTime<Utc>> {
    let more = readings.len() > page.limit as usize;
    readings.truncate(page.limit as usize);
    if more { readings.last().map(|r| r.measured_at) } else { None }
}

// The page is checked before the patient is opened: a malformed request is
// 400 whoever asks.
async fn list_readings(
    State(state): State<Shared>,
    PageQuery(page): PageQuery,
    OpenPatient(uuid): OpenPatient,
) -> Result<Response, ApiError> {
    // A page carries nothing that depends on the time of the request (unlike
    // a patient's `stale`), so a cached one is as good as a fresh one.
    let ticket = match state.pages.lookup(uuid, &page.range) {
        Lookup::Hit(body, links) => {
            links.add_to_current_span();
            return Ok(json(body));
        }
        Lookup::Miss(ticket) => Some(ticket),
        Lookup::Bypass => None,
    };
    let readings = store::ward::readings(&state.pool, uuid, page.range).await?;
    let mut readings = readings.ok_or(ApiError::UnknownPatient(uuid))?;
    let next_cursor = cut_to_page(&mut readings, &page).map(encode_cursor);
    let links = ReadingLinks::from_ids(readings.iter().map(|r| (r.trace_id.as_deref(), r.span_id.as_deref())));
    links.add_to_current_span();
    let view =
        ReadingPage { patient: uuid, readings: readings.into_iter().map(ReadingView::from).collect(), next_cursor };
    let body = Bytes::from(serde_json::to_vec(&view).map_err(ApiError::Encode)?);
    if let Some(ticket) = ticket {
        state.pages.insert(uuid, page.range, ticket, body.clone(), links);
    }
    Ok(json(body))
}

/// The original assignment's answer: a JSON array of readings in the seed
/// format's field names, newest first, the same parameters as the ward's
/// route; the next page, if any, in a `Link: <…>; rel="next"` header. Not
/// cached (the page cache holds the ward route's pages).
async fn list_original_readings(
    State(state): State<Shared>,
    PageQuery(page): PageQuery,
    OpenPatient(uuid): OpenPatient,
) -> Result<Response, ApiError> {
    let name = store::ward::patient_name(&state.pool, uuid).await?.ok_or(ApiError::UnknownPatient(uuid))?;
    // A patient discharged between the two queries shows as known with no readings.
    let mut readings = store::ward::readings(&state.pool, uuid, page.range).await?.unwrap_or_default();
    let next = cut_to_page(&mut readings, &page);
    link_readings(readings.iter());
    let body: Vec<OriginalReading> = readings.into_iter().map(|r| OriginalReading::new(uuid, &name, r)).collect();
    let body = Bytes::from(serde_json::to_vec(&body).map_err(ApiError::Encode)?);
    let mut response = json(body);
    if let Some(last) = next {
        let path = ORIGINAL_READINGS.replace("{uuid}", &uuid.to_string());
        let link = next_link(&path, &page, last);
        // Built from a UUID, RFC 3339 times and a number, all percent-encoded: always a valid header.
        if let Ok(value) = HeaderValue::from_str(&link) {
            response.headers_mut().insert(header::LINK, value);
        }
    }
    Ok(response)
}

/// Links the request's span to the traces of the readings it returns (the
/// first [`telemetry::links::MAX_READING_LINKS`]).
pub fn link_readings<'a>(readings: impl Iterator<Item = &'a StoredReading>) {
    ReadingLinks::from_ids(readings.map(|r| (r.trace_id.as_deref(), r.span_id.as_deref()))).add_to_current_span();
}

/// A JSON body encoded earlier (the page cache holds bodies, not values).
fn json(body: Bytes) -> Response {
    ([(header::CONTENT_TYPE, HeaderValue::from_static("application/json"))], body).into_response()
}
