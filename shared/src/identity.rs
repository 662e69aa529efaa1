//! Stable event identity: the same delivery always gets the same id, whatever the key order or
//! whitespace of its JSON, so a redelivery can be recognised. The API key never takes part.

use serde::{Deserialize, Serialize};
use serde_json::Value;
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
        let digest = hasher.finalize();
        EventId(hex::encode(&digest[..16]))
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

fn canonical(value: &Value, out: &mut Sha256) {
    match value {
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().filter(|k| *k != "apiKey").collect();
            keys.sort_unstable();
            out.update(b"{");
            for (i, key) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.update(b",");
                }
                write_json(&Value::String(key.clone()), out);
                out.update(b":");
                canonical(&map[key], out);
            }
            out.update(b"}");
        }
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

fn write_json(scalar: &Value, out: &mut Sha256) {
    // Serialising a scalar cannot fail; an empty write would only weaken the id, never panic.
    if let Ok(text) = serde_json::to_vec(scalar) {
        out.update(&text);
    }
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
    fn id_is_32_hex() {
        let id = EventId::of_content(&json!({"trackingNumber": "X"}));
        assert_eq!(id.as_str().len(), 32);
        assert!(id.as_str().bytes().all(|b| b.is_ascii_hexdigit()));
    }
}
