//! The Observation search's parameters: `_count`, `date` (repeatable, with
//! the prefixes `ge`, `gt`, `le`, `lt`) and the paging `cursor` the `next`
//! link carries. Other parameters are ignored, as FHIR servers do by default.

use chrono::{DateTime, NaiveDate, TimeDelta, Utc};

use crate::error::ApiError;

pub const DEFAULT_COUNT: usize = 100;
pub const MAX_COUNT: usize = 1000;

/// A checked search: Observations `from <= effective < before`, newest
/// reading first, at most `count`, starting at `cursor`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Search {
    pub count: usize,
    pub from: Option<DateTime<Utc>>,
    pub before: Option<DateTime<Utc>>,
    pub cursor: Option<Cursor>,
}

/// Where a page starts: the reading measured at `at`, from its `skip`-th
/// Observation (a page may end inside a reading's five).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cursor {
    pub at: DateTime<Utc>,
    pub skip: usize,
}

impl Cursor {
    /// `MICROSECONDS.SKIP`: opaque to clients, which follow the `next` link.
    pub fn encode(&self) -> String {
        format!("{}.{}", self.at.timestamp_micros(), self.skip)
    }

    fn parse(value: &str) -> Option<Cursor> {
        let (micros, skip) = value.split_once('.')?;
        let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
        (digits(micros) && micros.len() <= 19 && skip.len() == 1 && digits(skip)).then_some(())?;
        let at = DateTime::from_timestamp_micros(micros.parse().ok()?)?;
        let skip = skip.parse().ok().filter(|s| *s < super::vital_signs::Vital::PER_READING)?;
        Some(Cursor { at, skip })
    }
}

impl Search {
    /// Reads a query string (`None`: no query).
    pub fn parse(query: Option<&str>) -> Result<Search, ApiError> {
        let mut search = Search { count: DEFAULT_COUNT, from: None, before: None, cursor: None };
        for (name, value) in url::form_urlencoded::parse(query.unwrap_or("").as_bytes()) {
            match &*name {
                "_count" => {
                    search.count =
                        value.trim().parse().ok().filter(|n| (1..=MAX_COUNT).contains(n)).ok_or_else(|| {
                            ApiError::invalid(
                                "_count",
                                format!("{value:?} is not a whole number from 1 to {MAX_COUNT}"),
                            )
                        })?
                }
                "date" => match date_bound(&value)? {
                    Bound::From(t) => search.from = Some(search.from.map_or(t, |f| f.max(t))),
                    Bound::Before(t) => search.before = Some(search.before.map_or(t, |b| b.min(t))),
                },
                "cursor" => {
                    search.cursor = Some(Cursor::parse(&value).ok_or_else(|| {
                        ApiError::invalid("cursor", format!("{value:?} is not a cursor of a next link"))
                    })?)
                }
                _ => {}
            }
        }
        Ok(search)
    }

    /// The query of the page after this one, starting at `next`.
    pub fn next_query(&self, next: Cursor) -> String {
        let mut query = url::form_urlencoded::Serializer::new(String::new());
        query.append_pair("_count", &self.count.to_string());
        if let Some(from) = self.from {
            query.append_pair("date", &format!("ge{}", super::vital_signs::date_time(from)));
        }
        if let Some(before) = self.before {
            query.append_pair("date", &format!("lt{}", super::vital_signs::date_time(before)));
        }
        query.append_pair("cursor", &next.encode());
        query.finish()
    }
}

enum Bound {
    From(DateTime<Utc>),
    Before(DateTime<Utc>),
}

/// One `date` value: a prefix and a date (`2026-11-29`, a UTC day) or a
/// date-time with a zone (an instant).
fn date_bound(value: &str) -> Result<Bound, ApiError> {
    let bad = |why: &str| ApiError::invalid("date", format!("{value:?}: {why}"));
    let value_trimmed = value.trim();
    let (prefix, when) =
        value_trimmed.split_at_checked(2).ok_or_else(|| bad("expected ge, gt, le or lt and a date"))?;
    // The contract's shape exactly (chrono alone would take `2026-1-5` or a space for `T`).
    let b = when.as_bytes();
    let day_shape = b.len() >= 10
        && b[..10].iter().enumerate().all(|(i, c)| if i == 4 || i == 7 { *c == b'-' } else { c.is_ascii_digit() });
    if !day_shape || (b.len() > 10 && b[10] != b'T') {
        return Err(bad(
            "expected a day (2026-11-29) or a date-time with a zone (2026-11-29T08:00:00Z) after the prefix",
        ));
    }
    // A day covers [start, next day); an instant covers [t, t + 1 µs), the store's precision.
    let (start, end) = if b.len() == 10
        && let Ok(day) = NaiveDate::parse_from_str(when, "%Y-%m-%d")
    {
        let start = day.and_hms_opt(0, 0, 0).map(|t| t.and_utc()).ok_or_else(|| bad("not a day"))?;
        (start, start + TimeDelta::days(1))
    } else if let Ok(t) = DateTime::parse_from_rfc3339(when) {
        let t = t.to_utc();
        (t, t + TimeDelta::microseconds(1))
    } else {
        return Err(bad(
            "expected a day (2026-11-29) or a date-time with a zone (2026-11-29T08:00:00Z) after the prefix",
        ));
    };
    match prefix {
        "ge" => Ok(Bound::From(start)),
        "gt" => Ok(Bound::From(end)),
        "lt" => Ok(Bound::Before(start)),
        "le" => Ok(Bound::Before(end)),
        _ => Err(bad("the prefixes supported are ge, gt, le and lt")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().to_utc()
    }

    fn parameter_of(e: ApiError) -> &'static str {
        match e {
            ApiError::InvalidParameter { parameter, .. } => parameter,
            other => panic!("expected a parameter error, got {other:?}"),
        }
    }

    #[test]
    fn dates_narrow_the_range_by_their_prefix() {
        let s = Search::parse(Some("date=ge2026-11-29T08:00:00Z&date=lt2026-11-29T09:00:00%2B01:00&_count=7")).unwrap();
        assert_eq!((s.from, s.before, s.count), (Some(t("2026-11-29T08:00:00Z")), Some(t("2026-11-29T08:00:00Z")), 7));
        let day = Search::parse(Some("date=gt2026-11-28&date=le2026-11-29")).unwrap();
        assert_eq!((day.from, day.before), (Some(t("2026-11-29T00:00:00Z")), Some(t("2026-11-30T00:00:00Z"))));
        let tightest =
            Search::parse(Some("date=ge2026-11-01&date=ge2026-11-20&date=lt2026-12-31&date=lt2026-12-01")).unwrap();
        assert_eq!(
            (tightest.from, tightest.before),
            (Some(t("2026-11-20T00:00:00Z")), Some(t("2026-12-01T00:00:00Z")))
        );
        assert_eq!(Search::parse(None).unwrap().count, DEFAULT_COUNT);
        assert!(Search::parse(Some("subject=x&_sort=date")).is_ok(), "unknown parameters are ignored");
    }

    #[test]
    fn bad_values_name_their_parameter() {
        for (query, parameter) in [
            ("_count=0", "_count"),
            ("_count=1001", "_count"),
            ("_count=ten", "_count"),
            ("date=2026-11-29", "date"),
            ("date=eq2026-11-29", "date"),
            ("date=ge2026-11-29T08:00:00", "date"),
            ("date=geyesterday", "date"),
            ("date=g", "date"),
            ("cursor=12", "cursor"),
            ("cursor=12.5", "cursor"),
            ("cursor=%2B12.1", "cursor"),
            ("cursor=12.01", "cursor"),
            ("date=ge2026-1-05", "date"),
            ("date=ge2026-11-29%2008:00:00Z", "date"),
        ] {
            assert_eq!(parameter_of(Search::parse(Some(query)).unwrap_err()), parameter, "{query}");
        }
    }

    #[test]
    fn the_next_query_keeps_the_search_and_round_trips_the_cursor() {
        let s = Search::parse(Some("_count=3&date=ge2026-11-29T08:00:00Z")).unwrap();
        let next = Cursor { at: t("2026-11-29T08:00:01.5Z"), skip: 2 };
        let query = s.next_query(next);
        let again = Search::parse(Some(&query)).unwrap();
        assert_eq!(again, Search { cursor: Some(next), ..s });
    }
}
