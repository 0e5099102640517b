//! The one definition of a stored reading's columns: each column's name, its
//! PostgreSQL type, whether it is a measured value, and how it is taken from
//! a reading. The SQL (column lists, `UNNEST` inputs), the bound arrays and
//! the binary COPY rows all come from this table, so a column cannot be
//! added in one place and forgotten in another, and two columns of the same
//! type cannot be swapped by position.

use std::sync::LazyLock;

use chrono::{DateTime, Utc};
use sqlx::Postgres;
use sqlx::postgres::{PgArgumentBuffer, PgArguments};
use sqlx::query::QueryAs;
use uuid::Uuid;
use vitals::ScoredReading;

use super::copy::CopyRows;

/// Where a message came from (its Kafka coordinates), kept with whatever it becomes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(super) struct Source<'a> {
    pub topic: &'a str,
    pub partition: i32,
    pub offset: i64,
}

/// A reading to write, with where it came from.
#[derive(Debug, Clone, Copy)]
pub(super) struct ReadingRow<'a> {
    pub scored: &'a ScoredReading,
    pub source: Source<'a>,
}

/// Column `name` of SQL type `type`, measured value or not, Rust type, and
/// how it is taken from a row `r`.
macro_rules! reading_columns {
    ($( $name:ident $sql:literal $measured:literal : $ty:ty = |$r:ident| $value:expr ; )*) => {
        /// The columns of a set of readings, one array per column.
        #[derive(Default)]
        pub(super) struct ReadingColumns<'a> {
            $( $name: Vec<$ty>, )*
        }

        impl<'a> ReadingColumns<'a> {
            pub(super) fn push(&mut self, row: &ReadingRow<'a>) {
                $( { let $r = row; self.$name.push($value); } )*
            }

            /// Binds every column's array, in [`COLUMNS`] order (`$1`, `$2`, …).
            pub(super) fn bind<'q, O>(
                &'q self,
                query: QueryAs<'q, Postgres, O, PgArguments>,
            ) -> QueryAs<'q, Postgres, O, PgArguments> {
                query $( .bind(&self.$name) )*
            }

            /// Writes reading `i` as one binary COPY tuple, fields in [`COLUMNS`] order.
            pub(super) fn copy_row(&self, i: usize, out: &mut CopyRows) -> crate::Result<()> {
                out.start_tuple(COLUMNS.len());
                $( out.field(&self.$name[i])?; )*
                Ok(())
            }
        }

        /// (name, SQL type, measured value) of each column, in bind order.
        pub(super) const COLUMNS: &[(&str, &str, bool)] = &[ $( (stringify!($name), $sql, $measured), )* ];
    };
}

reading_columns! {
    patient_id "uuid" false: Uuid = |r| r.scored.reading.patient;
    measured_at "timestamptz" false: DateTime<Utc> = |r| r.scored.reading.measured_at;
    // The domain bounds every vital sign well inside smallint (0–300).
    pulse "int2" true: i16 = |r| r.scored.reading.pulse as i16;
    resp_rate "int2" true: i16 = |r| r.scored.reading.resp_rate as i16;
    bp_systolic "int2" true: i16 = |r| r.scored.reading.bp.systolic as i16;
    bp_diastolic "int2" true: i16 = |r| r.scored.reading.bp.diastolic as i16;
    spo2 "int2" true: i16 = |r| i16::from(r.scored.reading.spo2);
    temperature "float8" true: f64 = |r| r.scored.reading.temperature;
    on_oxygen "bool" true: Option<bool> = |r| r.scored.reading.on_oxygen;
    acvpu "text" true: Option<&'static str> = |r| r.scored.reading.acvpu.map(vitals::Acvpu::as_str);
    news2 "int2" false: i16 = |r| i16::from(r.scored.news2.total);
    news2_band "text" false: &'static str = |r| r.scored.news2.band.as_str();
    trace_id "text" false: Option<String> = |r| r.scored.trace.map(|t| t.trace_id_hex());
    span_id "text" false: Option<String> = |r| r.scored.trace.map(|t| t.span_id_hex());
    source_topic "text" false: &'a str = |r| r.source.topic;
    source_partition "int4" false: i32 = |r| r.source.partition;
    source_offset "int8" false: i64 = |r| r.source.offset;
}

impl<'a> ReadingColumns<'a> {
    pub(super) fn of(rows: &[ReadingRow<'a>]) -> ReadingColumns<'a> {
        let mut columns = ReadingColumns::default();
        for row in rows {
            columns.push(row);
        }
        columns
    }
}

/// `patient_id, measured_at, …`: the column list.
pub(super) static NAMES: LazyLock<String> =
    LazyLock::new(|| COLUMNS.iter().map(|(name, _, _)| *name).collect::<Vec<_>>().join(", "));

/// `UNNEST($1::uuid[], …) AS u(patient_id, …)`: the bound arrays as rows named like the table.
pub(super) static UNNEST: LazyLock<String> = LazyLock::new(|| unnest(""));

/// [`UNNEST`] with the row's position (from 1) as a last column `n`.
pub(super) static UNNEST_NUMBERED: LazyLock<String> = LazyLock::new(|| unnest(" WITH ORDINALITY"));

fn unnest(ordinality: &str) -> String {
    let arrays: Vec<String> =
        COLUMNS.iter().enumerate().map(|(i, (_, sql, _))| format!("${}::{sql}[]", i + 1)).collect();
    let numbered = if ordinality.is_empty() { "" } else { ", n" };
    format!("UNNEST({}){ordinality} AS u({}{numbered})", arrays.join(", "), *NAMES)
}

/// `(v.pulse, …) IS DISTINCT FROM (u.pulse, …)`: the measured values of a
/// stored reading `v` differ from those of an input row `u`.
pub(super) static MEASURED_DIFFER: LazyLock<String> = LazyLock::new(|| {
    let measured: Vec<&str> = COLUMNS.iter().filter(|(_, _, m)| *m).map(|(name, _, _)| *name).collect();
    let list = |alias: &str| measured.iter().map(|c| format!("{alias}.{c}")).collect::<Vec<_>>().join(", ");
    format!("({}) IS DISTINCT FROM ({})", list("v"), list("u"))
});

/// Encodes one value the way sqlx binds it (the binary protocol format,
/// which is also COPY's binary field format).
pub(super) fn encode<'q, T: sqlx::Encode<'q, Postgres>>(
    value: &T,
    buf: &mut PgArgumentBuffer,
) -> crate::Result<sqlx::encode::IsNull> {
    value.encode_by_ref(buf).map_err(|e| crate::Error::Encode(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_sql_names_every_column_once_in_bind_order() {
        let names: Vec<&str> = COLUMNS.iter().map(|c| c.0).collect();
        let mut unique = names.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(unique.len(), names.len());
        assert!(UNNEST.starts_with("UNNEST($1::uuid[], $2::timestamptz[], $3::int2[]"), "{}", *UNNEST);
        assert!(UNNEST.ends_with(&format!("AS u({})", *NAMES)));
        assert!(UNNEST_NUMBERED.contains("WITH ORDINALITY AS u(patient_id,") && UNNEST_NUMBERED.ends_with(", n)"));
        assert!(MEASURED_DIFFER.starts_with("(v.pulse, v.resp_rate, v.bp_systolic"), "{}", *MEASURED_DIFFER);
    }
}
