//! The few FHIR R4 (4.0.1) structures the ward serves, as serde types: only
//! the elements it fills, with FHIR's JSON names. A FHIR crate would bring
//! hundreds of resource types for five; these are checked against an
//! external R4 model validator by the `fhir` test stage instead.

use serde::Serialize;

/// `Bundle` of type `searchset`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Bundle {
    pub resource_type: &'static str,
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub link: Vec<BundleLink>,
    pub entry: Vec<BundleEntry>,
}

#[derive(Debug, Serialize)]
pub struct BundleLink {
    /// `self` or `next`.
    pub relation: &'static str,
    pub url: String,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct BundleEntry {
    pub full_url: String,
    pub resource: Observation,
    pub search: EntrySearch,
}

#[derive(Debug, Serialize)]
pub struct EntrySearch {
    /// `match`: the entry matched the search (no `_include` here).
    pub mode: &'static str,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Observation {
    pub resource_type: &'static str,
    pub id: String,
    pub meta: Meta,
    pub status: &'static str,
    pub category: Vec<CodeableConcept>,
    pub code: CodeableConcept,
    pub subject: Reference,
    pub effective_date_time: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub value_quantity: Option<Quantity>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub component: Vec<Component>,
}

#[derive(Debug, Serialize)]
pub struct Meta {
    pub profile: Vec<&'static str>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Component {
    pub code: CodeableConcept,
    pub value_quantity: Quantity,
}

#[derive(Debug, Clone, Serialize)]
pub struct CodeableConcept {
    pub coding: Vec<Coding>,
    pub text: &'static str,
}

#[derive(Debug, Clone, Copy, Serialize)]
pub struct Coding {
    pub system: &'static str,
    pub code: &'static str,
    pub display: &'static str,
}

#[derive(Debug, Serialize)]
pub struct Quantity {
    pub value: serde_json::Number,
    pub unit: &'static str,
    pub system: &'static str,
    pub code: &'static str,
}

#[derive(Debug, Serialize)]
pub struct Reference {
    pub reference: String,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Patient {
    pub resource_type: &'static str,
    pub id: String,
    pub identifier: Vec<Identifier>,
    pub active: bool,
    pub name: Vec<HumanName>,
}

#[derive(Debug, Serialize)]
pub struct Identifier {
    pub system: &'static str,
    pub value: String,
}

#[derive(Debug, Serialize)]
pub struct HumanName {
    /// The name as the ward knows it: one text, not split into parts it cannot know.
    pub text: String,
}
