//! PostgreSQL's binary COPY format
//! (<https://www.postgresql.org/docs/current/sql-copy.html#id-1.9.3.55.9.4>):
//! a signature, tuples of length-prefixed fields, a trailer. Each field is
//! the value in the binary protocol format, the same bytes sqlx binds.

use std::borrow::Cow;

use sqlx::encode::IsNull;
use sqlx::postgres::PgArgumentBuffer;

use super::columns::encode;

/// "PGCOPY\n\377\r\n\0", then flags (no OIDs) and the header extension length.
const HEADER: &[u8] = b"PGCOPY\n\xff\r\n\0\0\0\0\0\0\0\0\0";
/// A field count of -1 ends the data.
const TRAILER: &[u8] = &(-1_i16).to_be_bytes();

/// A binary COPY stream being written.
pub(super) struct CopyRows {
    buf: PgArgumentBuffer,
    /// Where each tuple ended, for [`CopyRows::finish_tuples`].
    ends: Vec<usize>,
}

/// A finished COPY stream that remembers where each tuple ends, so that a
/// subset of its tuples can be sent without encoding them again.
pub(super) struct Tuples {
    stream: Vec<u8>,
    ends: Vec<usize>,
}

impl Tuples {
    /// The stream of the tuples at `positions` (ascending): the whole stream
    /// as it is when that is every tuple.
    pub(super) fn stream(&self, positions: &[usize]) -> Cow<'_, [u8]> {
        if positions.len() == self.ends.len() {
            return Cow::Borrowed(&self.stream);
        }
        let mut out = Vec::with_capacity(HEADER.len() + TRAILER.len() + positions.len() * 64);
        out.extend_from_slice(HEADER);
        for &k in positions {
            let start = if k == 0 { HEADER.len() } else { self.ends[k - 1] };
            out.extend_from_slice(&self.stream[start..self.ends[k]]);
        }
        out.extend_from_slice(TRAILER);
        Cow::Owned(out)
    }
}

impl CopyRows {
    pub(super) fn new() -> CopyRows {
        let mut buf = PgArgumentBuffer::default();
        buf.extend_from_slice(HEADER);
        CopyRows { buf, ends: Vec::new() }
    }

    pub(super) fn start_tuple(&mut self, fields: usize) {
        // A table has at most 1,600 columns.
        self.buf.extend_from_slice(&(fields as i16).to_be_bytes());
    }

    /// One field: its length (-1 for NULL), then its bytes.
    pub(super) fn field<'q, T: sqlx::Encode<'q, sqlx::Postgres>>(&mut self, value: &T) -> crate::Result<()> {
        let at = self.buf.len();
        self.buf.extend_from_slice(&[0; 4]);
        let length = match encode(value, &mut self.buf)? {
            IsNull::Yes => -1,
            IsNull::No => (self.buf.len() - at - 4) as i32,
        };
        self.buf[at..at + 4].copy_from_slice(&length.to_be_bytes());
        Ok(())
    }

    /// Marks the end of a tuple, for [`CopyRows::finish_tuples`].
    pub(super) fn end_tuple(&mut self) {
        self.ends.push(self.buf.len());
    }

    pub(super) fn finish(mut self) -> Vec<u8> {
        self.buf.extend_from_slice(TRAILER);
        std::mem::take(&mut *self.buf)
    }

    /// [`CopyRows::finish`], keeping where each tuple (marked by
    /// [`CopyRows::end_tuple`]) ends.
    pub(super) fn finish_tuples(mut self) -> Tuples {
        let ends = std::mem::take(&mut self.ends);
        Tuples { stream: self.finish(), ends }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_are_length_prefixed_and_null_is_minus_one() {
        let mut rows = CopyRows::new();
        rows.start_tuple(3);
        rows.field(&7_i16).unwrap();
        rows.field(&None::<bool>).unwrap();
        rows.field(&"ab").unwrap();
        let bytes = rows.finish();
        let body = &bytes[HEADER.len()..];
        assert_eq!(
            body,
            [&[0, 3][..], &[0, 0, 0, 2, 0, 7], &[0xff, 0xff, 0xff, 0xff], &[0, 0, 0, 2, b'a', b'b'], &[0xff, 0xff]]
                .concat()
        );
        assert_eq!(HEADER.len(), 11 + 4 + 4);
    }

    #[test]
    fn a_subset_of_tuples_is_a_stream_of_those_tuples_alone() {
        let encode = |values: &[i16]| {
            let mut rows = CopyRows::new();
            for v in values {
                rows.start_tuple(1);
                rows.field(v).unwrap();
                rows.end_tuple();
            }
            rows
        };
        let tuples = encode(&[1, 2, 3, 4]).finish_tuples();
        assert_eq!(*tuples.stream(&[0, 1, 2, 3]), encode(&[1, 2, 3, 4]).finish());
        assert_eq!(*tuples.stream(&[1, 3]), encode(&[2, 4]).finish());
        assert_eq!(*tuples.stream(&[0]), encode(&[1]).finish());
        assert_eq!(*tuples.stream(&[]), encode(&[]).finish());
    }
}
