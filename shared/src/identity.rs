//! Stable event identity: the same delivery always gets the same id, whatever the key order or
//! whitespace of its JSON, so a redelivery can be recognised. The API key never takes part.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};
use std::fmt;

/// A 128-bit content id, as 32 lowercase hex digits.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct EventId(String);

impl EventId {
    /// The id of a JSON value: SHA-256 over its canonical form (object keys sorted at every level,
    /// no whitespace), truncated to 128 bits. Keys named `apiKey` are left out at every level.
    pub fn of_content(value: &Value) -> Self {
        let mut hasher = Sha256::new();
        canonical(value, &mut hasher);
        Self::from_digest(hasher)
    }

    /// The id of a JSON object, as [`EventId::of_content`] gives it, without copying it first.
    pub fn of_map(map: &Map<String, Value>) -> Self {
        let mut hasher = Sha256::new();
        canonical_map(map, &mut hasher);
        Self::from_digest(hasher)
    }

    fn from_digest(hasher: Sha256) -> Self {
        let digest = hasher.finalize();
        // Into a buffer of the right size: `hex::encode` collects a character at a time, which
        // cost a third as much as the hash of a small delivery.
        let mut text = [0u8; 32];
        let written = hex::encode_to_slice(&digest[..16], &mut text);
        debug_assert!(written.is_ok(), "16 bytes are 32 hex digits");
        // Hex digits are ASCII, always UTF-8.
        EventId(std::str::from_utf8(&text).unwrap_or_default().to_owned())
    }

    /// The identity of a shipment status change whatever path brought it (a webhook, or Qapla's
    /// API): the shipment (channel, courier, tracking number), the status id and detail, and the
    /// status time (UTC, ISO 8601). An exact redelivery has it too; the shape of the body, the
    /// labels and the courier's text take no part, since they differ between the paths.
    pub fn of_change(
        channel: &str,
        courier: &str,
        tracking: &str,
        status: u32,
        detail: Option<u32>,
        time_utc: &str,
    ) -> Self {
        let parts = serde_json::json!([
            "status-change",
            channel,
            courier,
            tracking,
            status,
            detail,
            time_utc
        ]);
        Self::of_content(&parts)
    }

    /// An id Qapla' gave the delivery itself (the wrapped returns shape carries one).
    pub fn given(id: &str) -> Self {
        EventId(id.to_owned())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for EventId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

fn canonical_map(map: &Map<String, Value>, out: &mut Sha256) {
    // serde_json keeps keys sorted unless a crate turns on its `preserve_order`: sort only then.
    let mut entries: Vec<(&String, &Value)> = map.iter().filter(|(k, _)| *k != "apiKey").collect();
    if !entries.windows(2).all(|w| w[0].0 < w[1].0) {
        entries.sort_unstable_by(|a, b| a.0.cmp(b.0));
    }
    out.update(b"{");
    for (i, (key, value)) in entries.into_iter().enumerate() {
        if i > 0 {
            out.update(b",");
        }
        write_json(key.as_str(), out);
        out.update(b":");
        canonical(value, out);
    }
    out.update(b"}");
}

fn canonical(value: &Value, out: &mut Sha256) {
    match value {
        Value::Object(map) => canonical_map(map, out),
        Value::Array(items) => {
            out.update(b"[");
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.update(b",");
                }
                canonical(item, out);
            }
            out.update(b"]");
        }
        scalar => write_json(scalar, out),
    }
}

/// Feeds serialised JSON straight into the hash, with no buffer in between.
struct HashWriter<'a>(&'a mut Sha256);

impl std::io::Write for HashWriter<'_> {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.update(bytes);
        Ok(bytes.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn write_json<T: serde::Serialize + ?Sized>(scalar: &T, out: &mut Sha256) {
    // Writing a string or a number into a hash cannot fail.
    let _ = serde_json::to_writer(HashWriter(out), scalar);
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn order_whitespace_and_key_do_not_matter() {
        let a: Value = serde_json::from_str(r#"{"a":1,"b":{"x":[1,2],"y":"z"},"apiKey":"one"}"#)
            .expect("json");
        let b: Value = serde_json::from_str(
            r#"{ "b" : { "y" : "z", "x" : [ 1, 2 ] },
                "apiKey" : "two", "a" : 1 }"#,
        )
        .expect("json");
        assert_eq!(EventId::of_content(&a), EventId::of_content(&b));
    }

    #[test]
    fn content_matters() {
        let cases = [
            (json!({"a": 1}), json!({"a": 2})),
            (json!({"a": [1, 2]}), json!({"a": [2, 1]})),
            (json!({"a": "1"}), json!({"a": 1})),
            (json!({"a": {"b": 1}}), json!({"a.b": 1})),
        ];
        for (x, y) in cases {
            assert_ne!(
                EventId::of_content(&x),
                EventId::of_content(&y),
                "{x} vs {y}"
            );
        }
    }

    #[test]
    fn an_object_has_the_same_id_as_a_map() {
        let v = json!({"b": [1, {"z": null, "a": "x"}], "a": 2.5, "apiKey": "k"});
        let map = v.as_object().cloned().unwrap_or_default();
        assert_eq!(EventId::of_content(&v), EventId::of_map(&map));
    }

    #[test]
    fn known_answer() {
        // sha256(r#"{"a":1,"b":"x"}"#), first 16 bytes.
        let id = EventId::of_content(&json!({"b": "x", "a": 1}));
        assert_eq!(id.as_str(), "ecf9e98ec0641e23113ff3ce8bdc78d0");
    }

    #[test]
    fn a_change_is_its_shipment_status_and_time() {
        let base = EventId::of_change("shop", "DHL", "JD1", 6, Some(1), "2026-03-02T08:41:07Z");
        assert_eq!(
            base,
            EventId::of_change("shop", "DHL", "JD1", 6, Some(1), "2026-03-02T08:41:07Z")
        );
        let others = [
            EventId::of_change("shop2", "DHL", "JD1", 6, Some(1), "2026-03-02T08:41:07Z"),
            EventId::of_change("shop", "BRT", "JD1", 6, Some(1), "2026-03-02T08:41:07Z"),
            EventId::of_change("shop", "DHL", "JD2", 6, Some(1), "2026-03-02T08:41:07Z"),
            EventId::of_change("shop", "DHL", "JD1", 6, None, "2026-03-02T08:41:07Z"),
            EventId::of_change("shop", "DHL", "JD1", 6, Some(2), "2026-03-02T08:41:07Z"),
            EventId::of_change("shop", "DHL", "JD1", 3, Some(1), "2026-03-02T08:41:07Z"),
            EventId::of_change("shop", "DHL", "JD1", 6, Some(1), "2026-03-02T08:41:08Z"),
        ];
        for other in others {
            assert_ne!(base, other);
        }
    }

    #[test]
    fn id_is_32_hex() {
        let id = EventId::of_content(&json!({"trackingNumber": "X"}));
        assert_eq!(id.as_str().len(), 32);
        assert!(id.as_str().bytes().all(|b| b.is_ascii_hexdigit()));
    }
}
