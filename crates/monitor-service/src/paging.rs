//! The readings query: `from`, `to`, `limit` and the opaque `cursor`, each
//! checked with an error that names it.
//!
//! The cursor is the timestamp of the last reading of a page (RFC 3339, to
//! the microsecond the store keeps), so the next page continues strictly
//! before it: readings that arrive meanwhile are newer than the first page
//! and neither shift nor repeat later pages. It is a plain timestamp rather
//! than an opaque token because that is all it is: any timestamp is a valid
//! place to continue from, and the contract can say so exactly.

use chrono::{DateTime, SecondsFormat, Utc};
use serde::Deserialize;
use store::ward::ReadingRange;

use crate::error::ApiError;

pub const DEFAULT_LIMIT: u32 = 100;
pub const MAX_LIMIT: u32 = 1000;

/// The raw query: strings, so each parameter gets its own error.
/// Unknown parameters are ignored.
#[derive(Debug, Default, Deserialize)]
pub struct ReadingQuery {
    pub from: Option<String>,
    pub to: Option<String>,
    pub limit: Option<String>,
    pub cursor: Option<String>,
}

/// A checked query: what to ask the store for (one more than the page,
/// to know whether another page follows).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Page {
    pub range: ReadingRange,
    pub limit: u32,
}

impl ReadingQuery {
    pub fn check(&self) -> Result<Page, ApiError> {
        let from = self.from.as_deref().map(|v| timestamp("from", v)).transpose()?;
        let to = self.to.as_deref().map(|v| timestamp("to", v)).transpose()?;
        if let (Some(from), Some(to)) = (from, to)
            && to < from
        {
            return Err(ApiError::invalid("to", format!("{to} is before from ({from})")));
        }
        let limit = match self.limit.as_deref() {
            None => DEFAULT_LIMIT,
            Some(v) => match v.trim().parse::<u32>() {
                Ok(n) if (1..=MAX_LIMIT).contains(&n) => n,
                _ => {
                    return Err(ApiError::invalid(
                        "limit",
                        format!("{v:?} is not a whole number from 1 to {MAX_LIMIT}"),
                    ));
                }
            },
        };
        let after_cursor = self.cursor.as_deref().map(|v| timestamp("cursor", v)).transpose()?;
        let before = match (to, after_cursor) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        Ok(Page { range: ReadingRange { from, before, limit: limit + 1 }, limit })
    }
}

fn timestamp(parameter: &'static str, value: &str) -> Result<DateTime<Utc>, ApiError> {
    DateTime::parse_from_rfc3339(value.trim()).map(|t| t.to_utc()).map_err(|_| {
        ApiError::invalid(parameter, format!("{value:?} is not an RFC 3339 timestamp like 2026-11-24T08:00:00Z"))
    })
}

pub fn encode_cursor(last: DateTime<Utc>) -> String {
    last.to_rfc3339_opts(SecondsFormat::Micros, true)
}

/// `Link` to the page after the one ending at `last` (RFC 8288, a reference
/// relative to the request): the same `from` and `limit`, the cursor at `last`
/// (which is before any `to`, so `to` is implied).
pub fn next_link(path: &str, page: &Page, last: DateTime<Utc>) -> String {
    let mut query = url::form_urlencoded::Serializer::new(String::new());
    if let Some(from) = page.range.from {
        query.append_pair("from", &encode_cursor(from));
    }
    query.append_pair("limit", &page.limit.to_string());
    query.append_pair("cursor", &encode_cursor(last));
    format!("<{path}?{}>; rel=\"next\"", query.finish())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn query(from: Option<&str>, to: Option<&str>, limit: Option<&str>, cursor: Option<&str>) -> ReadingQuery {
        ReadingQuery {
            from: from.map(Into::into),
            to: to.map(Into::into),
            limit: limit.map(Into::into),
            cursor: cursor.map(Into::into),
        }
    }

    fn parameter_of(e: ApiError) -> &'static str {
        match e {
            ApiError::InvalidParameter { parameter, .. } => parameter,
            other => panic!("expected a parameter error, got {other:?}"),
        }
    }

    #[test]
    fn defaults_and_bounds() {
        let page = ReadingQuery::default().check().unwrap();
        assert_eq!(page.limit, 100);
        assert_eq!(page.range, ReadingRange { from: None, before: None, limit: 101 });
        assert_eq!(query(None, None, Some("1000"), None).check().unwrap().limit, 1000);
        for bad in ["0", "1001", "-1", "ten", "1.5", ""] {
            assert_eq!(parameter_of(query(None, None, Some(bad), None).check().unwrap_err()), "limit", "{bad}");
        }
    }

    #[test]
    fn ranges_are_checked() {
        let t = "2026-11-24T08:00:00Z";
        assert_eq!(parameter_of(query(Some("yesterday"), None, None, None).check().unwrap_err()), "from");
        assert_eq!(parameter_of(query(None, Some("2026-13-01"), None, None).check().unwrap_err()), "to");
        assert_eq!(parameter_of(query(Some("2026-11-24T09:00:00Z"), Some(t), None, None).check().unwrap_err()), "to");
        assert!(query(Some(t), Some(t), None, None).check().is_ok(), "an empty range is a valid question");
    }

    #[test]
    fn the_next_link_keeps_from_and_limit_and_encodes_offsets() {
        let page =
            query(Some("2026-11-24T08:00:00+01:00"), Some("2026-11-25T00:00:00Z"), Some("3"), None).check().unwrap();
        let last = DateTime::parse_from_rfc3339("2026-11-24T09:00:00.5Z").unwrap().to_utc();
        assert_eq!(
            next_link("/patient/x/metrics", &page, last),
            "</patient/x/metrics?from=2026-11-24T07%3A00%3A00.000000Z&limit=3&cursor=2026-11-24T09%3A00%3A00.500000Z>; rel=\"next\""
        );
    }

    #[test]
    fn a_cursor_round_trips_and_narrows_the_range() {
        let last = DateTime::parse_from_rfc3339("2026-11-24T08:00:00.123456Z").unwrap().to_utc();
        let cursor = encode_cursor(last);
        let page = query(None, Some("2026-11-25T00:00:00Z"), None, Some(&cursor)).check().unwrap();
        assert_eq!(page.range.before, Some(last));
        assert_eq!(cursor, "2026-11-24T08:00:00.123456Z");
        for bad in ["nope", "0", "2026-11-24"] {
            assert_eq!(parameter_of(query(None, None, None, Some(bad)).check().unwrap_err()), "cursor", "{bad}");
        }
    }
}
