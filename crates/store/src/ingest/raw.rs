//! A message's parts as they are kept in `ingest_queue` and
//! `ingest_quarantine`: payload and key as the bytes received (`bytea`), and
//! headers as a JSON object that holds every value exactly.

/// Headers as a JSON object. A value that is not text PostgreSQL can hold
/// (not UTF-8, or holding a NUL, which `jsonb` refuses) is kept exactly, as
/// `{"hex": "…"}`. Names arrive as text (the consumer reads them lossily);
/// a NUL in one, which `jsonb` would refuse, becomes U+FFFD.
pub(super) fn headers_json(headers: &[(String, Vec<u8>)]) -> String {
    let map: serde_json::Map<String, serde_json::Value> = headers
        .iter()
        .map(|(k, v)| {
            let value = match std::str::from_utf8(v) {
                Ok(text) if !text.contains('\0') => serde_json::Value::from(text),
                _ => serde_json::json!({ "hex": v.iter().map(|b| format!("{b:02x}")).collect::<String>() }),
            };
            (k.replace('\0', "\u{FFFD}"), value)
        })
        .collect();
    serde_json::Value::Object(map).to_string()
}

/// The headers [`headers_json`] kept, as (name, bytes).
pub(super) fn headers_from_json(headers: &serde_json::Value) -> Vec<(String, Vec<u8>)> {
    match headers {
        serde_json::Value::Object(map) => map.iter().map(|(k, v)| (k.clone(), header_bytes(v))).collect(),
        _ => Vec::new(),
    }
}

fn header_bytes(value: &serde_json::Value) -> Vec<u8> {
    if let Some(text) = value.as_str() {
        return text.as_bytes().to_vec();
    }
    let hex = value.get("hex").and_then(serde_json::Value::as_str).unwrap_or_default();
    (0..hex.len() / 2).filter_map(|i| u8::from_str_radix(hex.get(2 * i..2 * i + 2)?, 16).ok()).collect()
}

/// Text PostgreSQL's `text` type accepts: a NUL is written as `\0`.
pub(super) fn printable(text: &str) -> String {
    text.replace('\0', "\\0")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_come_back_as_they_were_received() {
        let headers = vec![
            ("traceparent".to_owned(), b"00-abc".to_vec()),
            ("x-raw".to_owned(), vec![0, 159, 255]),
            ("x-nul".to_owned(), b"a\0b".to_vec()),
        ];
        let json: serde_json::Value = serde_json::from_str(&headers_json(&headers)).unwrap();
        assert_eq!(json["x-raw"], serde_json::json!({"hex": "009fff"}));
        let mut back = headers_from_json(&json);
        back.sort();
        let mut expected = headers.clone();
        expected.sort();
        assert_eq!(back, expected);
    }
}
