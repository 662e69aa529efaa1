//! The wire models of the three webhooks, tolerant of the shapes Qapla' is known to send, with
//! their validation into what the receiver records. Every check a model makes is written once
//! here and shared: [`Invalid`] says what is wrong with a delivery's content.

pub mod flex;
pub mod orders;
pub mod party;
pub mod returns;
pub mod shipment;

use crate::dates::{self, BadDate};
use crate::identity::EventId;
use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use serde::Deserialize;
use serde_json::{Map, Value};
use std::borrow::Cow;

/// Why the content of a delivery is not valid.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Invalid {
    #[error("missing {0}")]
    Missing(&'static str),
    #[error("{field}: {reason}")]
    Field { field: String, reason: String },
    #[error("{field}: {source}")]
    Date {
        field: &'static str,
        #[source]
        source: BadDate,
    },
    #[error("{0} is empty")]
    Empty(&'static str),
}

impl Invalid {
    pub fn field(field: impl Into<String>, reason: impl Into<String>) -> Self {
        Invalid::Field {
            field: field.into(),
            reason: reason.into(),
        }
    }
}

/// Applies the attributes every wire model shares to each of its fields by type, so that no field
/// repeats them: absent values are not written back, text is read with [`flex::text`] and flags
/// with [`flex::flag`]. Unknown fields are kept by each model's own `extra` map
/// (`#[serde(flatten)]`).
///
/// The shipment and returns models hold their text as `Cow<'a, str>`, so that a model lends its
/// text from whatever it is read from where that can lend; read from the payload's value tree (by
/// value), each string is moved into the model, never copied.
macro_rules! wire_model {
    ($item:item) => {
        #[serde_with::apply(
                    Option => #[serde(skip_serializing_if = "Option::is_none")],
                    Option<String> => #[serde(deserialize_with = "crate::model::flex::text")],
                    Option<Cow<'a, str>> => #[serde(borrow, deserialize_with = "crate::model::flex::text")],
                    Option<bool> => #[serde(deserialize_with = "crate::model::flex::flag")],
                )]
        $item
    };
}
pub(crate) use wire_model;

/// A text field that must be present and not blank, trimmed.
pub fn required(value: &Option<impl AsRef<str>>, field: &'static str) -> Result<String, Invalid> {
    optional(value).ok_or(Invalid::Missing(field))
}

/// [`required`] for text the body may lend: trimmed, and still lent where it was.
pub fn required_text<'a>(
    value: &Option<Cow<'a, str>>,
    field: &'static str,
) -> Result<Cow<'a, str>, Invalid> {
    let text = match value {
        Some(Cow::Borrowed(lent)) => Cow::Borrowed(lent.trim()),
        Some(Cow::Owned(owned)) => Cow::Owned(owned.trim().to_owned()),
        None => return Err(Invalid::Missing(field)),
    };
    match text.is_empty() {
        true => Err(Invalid::Missing(field)),
        false => Ok(text),
    }
}

/// A text field that may be absent: blank counts as absent; trimmed.
pub fn optional(value: &Option<impl AsRef<str>>) -> Option<String> {
    trimmed(value).map(str::to_owned)
}

/// [`optional`] without a copy, for a value only looked at.
pub fn trimmed(value: &Option<impl AsRef<str>>) -> Option<&str> {
    value
        .as_ref()
        .map(|v| v.as_ref().trim())
        .filter(|v| !v.is_empty())
}

/// A value that names a shipment, return or order and so becomes part of a table key: not blank,
/// no `#` (the key separator), no control character, at most 256 bytes.
pub fn identifier<S: AsRef<str>>(value: S, field: impl Into<String>) -> Result<S, Invalid> {
    let text = value.as_ref();
    // By bytes where the text is ASCII (a tracking number, a courier code): decoding characters
    // showed in profiles.
    let refused = |c: char| c == '#' || c.is_control();
    let clean = match text.is_ascii() {
        true => !text.bytes().any(|b| refused(char::from(b))),
        false => !text.chars().any(refused),
    };
    let ok = !text.is_empty() && text.len() <= 256 && clean;
    if ok {
        Ok(value)
    } else {
        Err(Invalid::field(field, "holds a control character or '#'"))
    }
}

/// A Qapla' date in `tz`, as UTC.
pub fn date(value: &str, field: &'static str, tz: Tz) -> Result<DateTime<Utc>, Invalid> {
    dates::to_utc(value, tz).map_err(|source| Invalid::Date { field, source })
}

/// A Qapla' date in `tz` that may be absent, as UTC.
pub fn optional_date(
    value: &Option<impl AsRef<str>>,
    field: &'static str,
    tz: Tz,
) -> Result<Option<DateTime<Utc>>, Invalid> {
    value
        .as_ref()
        .map(|d| date(d.as_ref(), field, tz))
        .transpose()
}

/// Where in a body a deserialisation error happened: `base`, then the path inside it.
pub fn path<E>(base: &str, e: &serde_path_to_error::Error<E>) -> String {
    match e.path().to_string() {
        p if p == "." || p.is_empty() => base.to_owned(),
        p if p.starts_with('[') => format!("{base}{p}"),
        p => format!("{base}.{p}"),
    }
}

/// A deserialisation error's message with the offending value left out: serde quotes it
/// (`invalid type: string "Mario Rossi", expected …`), and a reason ends up in logs. What stays
/// is the kind of value found and the shape expected.
pub fn shape_only(message: &str) -> String {
    for prefix in ["invalid type: ", "invalid value: "] {
        if let Some(rest) = message.strip_prefix(prefix) {
            let end = rest.find([',', '"', '`']).unwrap_or(rest.len());
            let kind = rest[..end].trim_end();
            return format!("{prefix}{kind}{}", skip_literal(rest[end..].trim_start()));
        }
    }
    if let Some(rest) = message.strip_prefix("unknown variant ") {
        return format!("unknown variant{}", skip_literal(rest));
    }
    message.to_owned()
}

/// What follows a quoted literal at the start of `text` (a Rust-escaped `"…"` or a `` `…` ``).
fn skip_literal(text: &str) -> &str {
    let mut chars = text.char_indices();
    match chars.next() {
        Some((_, '"')) => {
            let mut escaped = false;
            for (i, c) in chars {
                match c {
                    _ if escaped => escaped = false,
                    '\\' => escaped = true,
                    '"' => return &text[i + 1..],
                    _ => {}
                }
            }
            ""
        }
        Some((_, '`')) => chars
            .find(|(_, c)| *c == '`')
            .map_or("", |(i, _)| &text[i + 1..]),
        _ => text,
    }
}

/// Takes the array `field` out of a body and reads each entry (non-empty, any length: the store
/// writes them in as many transactions as it takes) as the model `M`, then hands it to `validate`
/// with its position and content id. Read from the entry itself, not a reference to it, a model
/// owns its text.
pub fn each<M: Deserialize<'static>, R>(
    body: &mut Map<String, Value>,
    field: &'static str,
    mut validate: impl FnMut(usize, EventId, M) -> Result<R, Invalid>,
) -> Result<Vec<R>, Invalid> {
    let list = match body.remove(field) {
        Some(Value::Array(list)) if list.is_empty() => return Err(Invalid::Empty(field)),
        Some(Value::Array(list)) => list,
        Some(Value::Null) | None => return Err(Invalid::Missing(field)),
        Some(_) => return Err(Invalid::field(field, "not an array")),
    };
    list.into_iter()
        .enumerate()
        .map(|(i, raw)| {
            let at = || format!("{field}[{i}]");
            if !raw.is_object() {
                return Err(Invalid::field(at(), "not an object"));
            }
            let id = EventId::of_content(&raw);
            let model = serde_path_to_error::deserialize::<_, M>(raw)
                .map_err(|e| Invalid::field(path(&at(), &e), shape_only(&e.inner().to_string())))?;
            validate(i, id, model)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reasons_name_the_shape_never_the_value() {
        #[derive(serde::Deserialize, Debug)]
        #[allow(dead_code)]
        struct Party {
            name: Option<String>,
        }
        #[derive(serde::Deserialize, Debug)]
        #[allow(dead_code)]
        struct Row {
            consignee: Option<Party>,
            qty: Option<u32>,
        }
        let body = |v: Value| -> Map<String, Value> {
            serde_json::json!({ "rows": [v] })
                .as_object()
                .cloned()
                .unwrap_or_default()
        };
        for (row, field, reason) in [
            (
                serde_json::json!({"consignee": "Mario Rossi, \"Via\" Roma 1, 3331234567"}),
                "rows[0].consignee",
                "invalid type: string, expected struct Party",
            ),
            (
                serde_json::json!({"consignee": {"name": 3331234567_u64}}),
                "rows[0].consignee.name",
                "invalid type: integer, expected a string",
            ),
            (
                serde_json::json!({"qty": -3}),
                "rows[0].qty",
                "invalid value: integer, expected u32",
            ),
        ] {
            let err = each(&mut body(row.clone()), "rows", |_, _, m: Row| Ok(m))
                .expect_err(&row.to_string());
            assert_eq!(err, Invalid::field(field, reason), "{row}");
        }
        assert_eq!(
            shape_only("unknown variant `Mario`, expected `a` or `b`"),
            "unknown variant, expected `a` or `b`"
        );
        assert_eq!(
            shape_only("invalid value: floating point `1.5`, expected a flag"),
            "invalid value: floating point, expected a flag"
        );
        assert_eq!(
            shape_only("missing field `reference`"),
            "missing field `reference`"
        );
    }

    #[test]
    fn text_helpers() {
        let some = |s: &str| Some(s.to_owned());
        assert_eq!(required(&some(" A1 "), "f"), Ok("A1".to_owned()));
        assert_eq!(required(&some("  "), "f"), Err(Invalid::Missing("f")));
        assert_eq!(required(&None::<String>, "f"), Err(Invalid::Missing("f")));
        let lent = |s: &'static str| Some(Cow::Borrowed(s));
        assert!(matches!(
            required_text(&lent(" A1 "), "f"),
            Ok(Cow::Borrowed("A1"))
        ));
        assert_eq!(
            required_text(&Some(Cow::Owned(" A\"1 ".to_owned())), "f"),
            Ok(Cow::<str>::Owned("A\"1".to_owned()))
        );
        assert_eq!(required_text(&lent(" "), "f"), Err(Invalid::Missing("f")));
        assert_eq!(required_text(&None, "f"), Err(Invalid::Missing("f")));
        assert_eq!(optional(&some(" x")), Some("x".to_owned()));
        assert_eq!(optional(&some("")), None);
    }

    #[test]
    fn identifiers() {
        assert!(identifier("JD0146000031", "t").is_ok());
        for bad in ["", "A#B", "D\u{1}L", &"x".repeat(257)] {
            assert!(identifier(bad.to_owned(), "t").is_err(), "{bad:?}");
        }
    }
}
