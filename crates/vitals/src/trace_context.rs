//! The W3C Trace Context a message carries in its `traceparent` header
//! (<https://www.w3.org/TR/trace-context/#traceparent-header>), so that a
//! stored reading can be linked back to the trace of the monitor that sent it.
//!
//! Only what the header says is read here; spans are the telemetry crate's job.

/// A valid `traceparent`: trace and parent span ids, neither all zeros.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TraceContext {
    pub trace_id: [u8; 16],
    pub span_id: [u8; 8],
    pub flags: u8,
}

/// `version-traceid-spanid-flags`: 2 + 1 + 32 + 1 + 16 + 1 + 2 characters.
const VERSION_00_LEN: usize = 55;

impl TraceContext {
    /// Parses a `traceparent` value, or `None` when it is not a valid one
    /// (the specification says to ignore such a header, not to fail on it).
    ///
    /// Version `00` is exactly `00-<32 hex>-<16 hex>-<2 hex>`; a later version
    /// may append `-…` fields, which are ignored; version `ff` is invalid.
    /// Hex digits must be lowercase, and an all-zero trace or span id is invalid.
    pub fn parse_traceparent(value: &[u8]) -> Option<TraceContext> {
        if value.len() < VERSION_00_LEN {
            return None;
        }
        let (head, rest) = value.split_at(VERSION_00_LEN);
        let version = hex::<1>(&head[0..2])?[0];
        match (version, rest) {
            (0xff, _) => return None,
            (0x00, []) => {}
            (0x00, _) => return None,
            (_, []) => {}
            (_, [b'-', ..]) => {}
            _ => return None,
        }
        if head[2] != b'-' || head[35] != b'-' || head[52] != b'-' {
            return None;
        }
        let trace_id = hex::<16>(&head[3..35])?;
        let span_id = hex::<8>(&head[36..52])?;
        let flags = hex::<1>(&head[53..55])?[0];
        if trace_id == [0; 16] || span_id == [0; 8] {
            return None;
        }
        Some(TraceContext { trace_id, span_id, flags })
    }

    /// The trace id as 32 lowercase hex digits, the form OpenTelemetry shows.
    pub fn trace_id_hex(&self) -> String {
        to_hex(&self.trace_id)
    }

    /// The parent span id as 16 lowercase hex digits.
    pub fn span_id_hex(&self) -> String {
        to_hex(&self.span_id)
    }
}

/// `N` bytes from `2 N` lowercase hex digits.
fn hex<const N: usize>(digits: &[u8]) -> Option<[u8; N]> {
    if digits.len() != 2 * N {
        return None;
    }
    let nibble = |d: u8| match d {
        b'0'..=b'9' => Some(d - b'0'),
        b'a'..=b'f' => Some(d - b'a' + 10),
        _ => None,
    };
    let mut out = [0; N];
    for (byte, pair) in out.iter_mut().zip(digits.chunks_exact(2)) {
        *byte = nibble(pair[0])? << 4 | nibble(pair[1])?;
    }
    Some(out)
}

fn to_hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    bytes.iter().flat_map(|b| [DIGITS[usize::from(b >> 4)] as char, DIGITS[usize::from(b & 15)] as char]).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const VALID: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

    #[test]
    fn a_valid_traceparent_gives_its_ids_back_in_lowercase_hex() {
        let tc = TraceContext::parse_traceparent(VALID.as_bytes()).unwrap();
        assert_eq!(tc.trace_id_hex(), "4bf92f3577b34da6a3ce929d0e0e4736");
        assert_eq!(tc.span_id_hex(), "00f067aa0ba902b7");
        assert_eq!(tc.flags, 1);
    }

    #[test]
    fn a_later_version_may_carry_more_fields() {
        let later = "cc-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-what-the-future-holds";
        assert!(TraceContext::parse_traceparent(later.as_bytes()).is_some());
        assert!(TraceContext::parse_traceparent(&later.as_bytes()[..55]).is_some());
    }

    #[test]
    fn every_malformed_traceparent_is_ignored() {
        let cases = [
            "",
            "00",
            // version 00 has exactly four fields
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01 ",
            // version ff is forbidden; a later version must continue with '-'
            "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "cc-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01x",
            // all-zero ids
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
            // uppercase, non-hex, wrong lengths, wrong separators
            "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e473g-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e47-00f067aa0ba902b7-01aa",
            "00_4bf92f3577b34da6a3ce929d0e0e4736_00f067aa0ba902b7_01",
            "0x-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-0z",
        ];
        for case in cases {
            assert_eq!(TraceContext::parse_traceparent(case.as_bytes()), None, "{case:?}");
        }
        assert_eq!(TraceContext::parse_traceparent(&[0xff; 55]), None, "not even text");
    }
}
