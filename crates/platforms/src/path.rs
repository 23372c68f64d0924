//! Ids in the URLs of platform calls: each id is one path segment (or query value), with every
//! byte but RFC 3986's unreserved characters percent-encoded.

use super::BackendError;

/// Every byte but RFC 3986's unreserved characters (`A–Z a–z 0–9 - . _ ~`) is encoded.
const SEGMENT: &percent_encoding::AsciiSet =
    &percent_encoding::NON_ALPHANUMERIC.remove(b'-').remove(b'.').remove(b'_').remove(b'~');

/// An id as one path segment, percent-encoded. An id of only dots (`.`, `..`) is refused: URL
/// parsers resolve it, encoded or not, as a step up the path, so it would reach another endpoint.
pub fn segment(id: &str) -> Result<String, BackendError> {
    if !id.is_empty() && id.bytes().all(|b| b == b'.') {
        return Err(BackendError::NotFound(format!(
            "'{id}' cannot name a record on the platform: a path segment of only dots is never sent"
        )));
    }
    Ok(percent_encoding::utf8_percent_encode(id, SEGMENT).to_string())
}

/// A query parameter's value, percent-encoded like a segment (dots are plain text there).
pub fn query_value(value: &str) -> String {
    percent_encoding::utf8_percent_encode(value, SEGMENT).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_id_stays_one_segment_and_only_dots_are_refused() {
        assert_eq!(segment("é ü/?#").unwrap(), "%C3%A9%20%C3%BC%2F%3F%23");
        assert_eq!(segment("..%2F..").unwrap(), "..%252F..", "dots inside an id are kept");
        for upward in [".", "..", "..."] {
            let refused = segment(upward).unwrap_err().to_string();
            assert!(refused.contains("a path segment of only dots is never sent"), "{refused}");
        }
        assert_eq!(query_value("a b&c=d"), "a%20b%26c%3Dd");
    }
}
