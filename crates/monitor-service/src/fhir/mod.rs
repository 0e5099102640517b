//! FHIR R4 views of the ward, for other health systems:
//! `GET {API_PREFIX}/patients/{uuid}/fhir/Observation` (a `searchset`
//! Bundle of vital-signs Observations, newest reading first, paged by a
//! `next` link) and `GET {API_PREFIX}/fhir/Patient/{uuid}`, as
//! `application/fhir+json`. The access rules are the other routes': a
//! patient opens only their own, each access is an audit line. Errors are
//! the API's problem+json, FHIR routes included (the access layer answers
//! before a route is known to be FHIR, and one error format is easier on
//! clients than two).

pub mod model;
pub mod search;
pub mod vital_signs;

use axum::extract::{FromRequestParts, OriginalUri, State};
use axum::http::request::Parts;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use chrono::TimeDelta;
use serde::Serialize;
use store::ward::ReadingRange;

use self::model::{Bundle, BundleEntry, BundleLink, EntrySearch, HumanName, Identifier, Patient};
use self::search::{Cursor, Search};
use self::vital_signs::Vital;
use crate::api::{OpenPatient, Shared, link_readings};
use crate::error::ApiError;

pub const CONTENT_TYPE: &str = "application/fhir+json";

/// The checked search parameters of an Observation search (400 before the
/// patient is opened, as for the other routes).
pub struct ObservationSearch(pub Search);

impl<S: Send + Sync> FromRequestParts<S> for ObservationSearch {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(ObservationSearch(Search::parse(parts.uri.query())?))
    }
}

/// `GET {API_PREFIX}/patients/{uuid}/fhir/Observation`.
pub async fn observations(
    State(state): State<Shared>,
    ObservationSearch(search): ObservationSearch,
    OpenPatient(patient): OpenPatient,
    OriginalUri(uri): OriginalUri,
) -> Result<Response, ApiError> {
    // Enough readings for the page and one Observation more (to know whether
    // another page follows), from the cursor's reading on.
    let skip = search.cursor.map_or(0, |c| c.skip);
    let wanted = (skip + search.count + 1).div_ceil(Vital::PER_READING);
    let through_cursor = search.cursor.map(|c| c.at + TimeDelta::microseconds(1));
    let before = match (search.before, through_cursor) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    };
    let range = ReadingRange { from: search.from, before, limit: u32::try_from(wanted).unwrap_or(u32::MAX) };
    let readings = store::ward::readings(&state.pool, patient, range).await?;
    let readings = readings.ok_or(ApiError::UnknownPatient(patient))?;
    // A cursor's reading deleted meanwhile: the page starts at the next one, whole.
    let skip = match (search.cursor, readings.first()) {
        (Some(c), Some(first)) if first.measured_at == c.at => skip,
        _ => 0,
    };
    link_readings(readings.iter());
    let mut all = readings.iter().flat_map(|r| Vital::ALL.iter().enumerate().map(move |(i, v)| (r, i, *v))).skip(skip);
    let entries: Vec<BundleEntry> = all
        .by_ref()
        .take(search.count)
        .map(|(r, _, vital)| {
            let resource = vital_signs::observation(patient, r, vital);
            BundleEntry {
                full_url: format!("urn:uuid:{}", resource.id),
                resource,
                search: EntrySearch { mode: "match" },
            }
        })
        .collect();
    let path = uri.path();
    let mut link = vec![BundleLink {
        relation: "self",
        url: uri.path_and_query().map_or_else(|| path.to_owned(), |p| p.as_str().to_owned()),
    }];
    if let Some((r, i, _)) = all.next() {
        let next = Cursor { at: r.measured_at, skip: i };
        link.push(BundleLink { relation: "next", url: format!("{path}?{}", search.next_query(next)) });
    }
    fhir_json(&Bundle { resource_type: "Bundle", kind: "searchset", link, entry: entries })
}

/// `GET {API_PREFIX}/fhir/Patient/{uuid}`.
pub async fn patient(State(state): State<Shared>, OpenPatient(uuid): OpenPatient) -> Result<Response, ApiError> {
    let admitted = store::ward::admitted(&state.pool, &[uuid]).await?;
    let p = admitted.into_iter().next().ok_or(ApiError::UnknownPatient(uuid))?;
    fhir_json(&Patient {
        resource_type: "Patient",
        id: uuid.to_string(),
        identifier: vec![Identifier { system: "urn:ietf:rfc:3986", value: format!("urn:uuid:{uuid}") }],
        active: true,
        name: vec![HumanName { text: p.name }],
    })
}

fn fhir_json(body: &impl Serialize) -> Result<Response, ApiError> {
    let body = serde_json::to_vec(body).map_err(ApiError::Encode)?;
    Ok(([(header::CONTENT_TYPE, HeaderValue::from_static(CONTENT_TYPE))], body).into_response())
}
