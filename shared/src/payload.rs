//! From raw bytes to a typed delivery: strict JSON (no duplicate keys), tell which webhook it is,
//! take the API key out, then validate the kind's model.

use crate::auth::ApiKey;
use crate::kind::Kind;
use crate::model::orders::{self, OrdersDelivery};
use crate::model::returns::{self, ReturnsDelivery};
use crate::model::shipment::{self, ShipmentEvent};
use crate::model::Invalid;
use chrono_tz::Tz;
use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Number, Value};
use std::fmt;

/// Why a body is not a delivery at all.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Unreadable {
    #[error("empty body")]
    Empty,
    #[error("not JSON: {0}")]
    NotJson(String),
    #[error("duplicate key {0:?} in a JSON object")]
    DuplicateKey(String),
    #[error("the body is not a JSON object")]
    NotObject,
    #[error("the body is not a Qapla' webhook")]
    UnknownKind,
}

impl Unreadable {
    /// A short, stable code for logs and metrics.
    pub fn code(&self) -> &'static str {
        match self {
            Unreadable::Empty => "empty_body",
            Unreadable::NotJson(_) => "not_json",
            Unreadable::DuplicateKey(_) => "duplicate_key",
            Unreadable::NotObject => "not_object",
            Unreadable::UnknownKind => "unknown_kind",
        }
    }
}

/// Which webhook a body is: `webhookReturnShipments` or `returnShipments` means returns, an
/// `orders` array means orders, `trackingNumber` or `qaplaStatusID` means a shipment status.
pub fn detect(body: &Map<String, Value>) -> Option<Kind> {
    if body.contains_key("webhookReturnShipments") || body.contains_key("returnShipments") {
        Some(Kind::Return)
    } else if body.contains_key("orders") {
        Some(Kind::Order)
    } else if body.contains_key("trackingNumber") || body.contains_key("qaplaStatusID") {
        Some(Kind::Shipment)
    } else {
        None
    }
}

/// A body read as a JSON object, its kind told and its key taken out.
#[derive(Debug)]
pub struct Envelope {
    pub kind: Kind,
    pub key: Option<ApiKey>,
    /// The body without any `apiKey`.
    body: Map<String, Value>,
}

/// A validated delivery of one of the three kinds.
#[derive(Debug, Clone, PartialEq)]
pub enum Delivery<'a> {
    Shipment(Box<ShipmentEvent<'a>>),
    Returns(ReturnsDelivery<'a>),
    Orders(OrdersDelivery),
}

impl Delivery<'_> {
    pub fn kind(&self) -> Kind {
        match self {
            Delivery::Shipment(_) => Kind::Shipment,
            Delivery::Returns(_) => Kind::Return,
            Delivery::Orders(_) => Kind::Order,
        }
    }
}

/// Reads a body: JSON without a duplicate key at any level, an object, a known kind. Where the
/// key sits depends on the shape: at the top, or inside `webhookReturnShipments`; it is taken out
/// there, and any `apiKey` deeper is dropped, so that no key is stored, published or hashed.
pub fn read(bytes: &[u8]) -> Result<Envelope, Unreadable> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(Unreadable::Empty);
    }
    let Value::Object(mut body) =
        strict_json(bytes).map_err(|refusal| keys_first(bytes, refusal))?
    else {
        return Err(Unreadable::NotObject);
    };
    let kind = detect(&body).ok_or(Unreadable::UnknownKind)?;
    let mut key = take_key(&mut body);
    if let Some(Value::Object(inner)) = body.get_mut("webhookReturnShipments") {
        key = take_key(inner).or(key);
    }
    for value in body.values_mut() {
        drop_keys(value);
    }
    Ok(Envelope { kind, key, body })
}

/// A JSON object [`read`] refused as no webhook, or for a duplicate name, read anyway (a name given
/// twice keeps its last value), so that a known key can still claim it: its key, and the body
/// without any `apiKey`. `None` where it is no object, or where the duplicate is `apiKey` itself
/// (which key counts would depend on the parser).
pub fn lenient(bytes: &[u8], refusal: &Unreadable) -> Option<(Option<ApiKey>, Map<String, Value>)> {
    match refusal {
        Unreadable::UnknownKind => {}
        Unreadable::DuplicateKey(name) if name != API_KEY => {}
        _ => return None,
    }
    let Ok(Value::Object(mut body)) = last_wins_json(bytes) else {
        return None;
    };
    let mut key = take_key(&mut body);
    if let Some(Value::Object(inner)) = body.get_mut("webhookReturnShipments") {
        key = take_key(inner).or(key);
    }
    body.values_mut().for_each(drop_keys);
    Some((key, body))
}

/// Where the entries of a returns or orders body are: the array.
fn entries_of(kind: Kind, body: &mut Map<String, Value>) -> Option<&mut Vec<Value>> {
    let (wrapped, field) = match kind {
        Kind::Shipment => return None,
        Kind::Order => (false, "orders"),
        Kind::Return => (
            matches!(body.get("webhookReturnShipments"), Some(Value::Object(_))),
            "returnShipments",
        ),
    };
    let holder = if wrapped {
        body.get_mut("webhookReturnShipments")?.as_object_mut()?
    } else {
        body
    };
    match holder.get_mut(field) {
        Some(Value::Array(list)) => Some(list),
        _ => None,
    }
}

/// A returns or orders body of several entries as one body per entry, each with the rest of the
/// body (the wrapper, its delivery id) as it was, so that each can be validated, recorded or
/// kept alone; with the entry's position. `None` for a shipment or a body of fewer than two.
pub fn each_entry(
    kind: Kind,
    body: &Map<String, Value>,
) -> Option<Vec<(usize, Map<String, Value>)>> {
    let mut shell = body.clone();
    let list = entries_of(kind, &mut shell)?;
    if list.len() < 2 {
        return None;
    }
    let list = std::mem::take(list);
    Some(
        list.into_iter()
            .enumerate()
            .map(|(i, entry)| {
                let mut one = shell.clone();
                if let Some(slot) = entries_of(kind, &mut one) {
                    slot.push(entry);
                }
                (i, one)
            })
            .collect(),
    )
}

/// A returns or orders body with only its entries at `positions` (in their order), the rest of
/// the body (the wrapper, its delivery id) as it was: the invalid entries of one delivery, kept
/// together. `None` for a shipment.
pub fn with_entries(
    kind: Kind,
    body: &Map<String, Value>,
    positions: &[usize],
) -> Option<Map<String, Value>> {
    let mut shell = body.clone();
    let list = entries_of(kind, &mut shell)?;
    let kept: Vec<Value> = positions
        .iter()
        .filter_map(|&i| list.get(i).cloned())
        .collect();
    *list = kept;
    Some(shell)
}

/// A reason about a body of one entry, said of the entry at `position` of the whole body:
/// `orders[0].date: …` becomes `orders[7].date: …`.
pub fn at_position(kind: Kind, reason: &str, position: usize) -> String {
    let field = match kind {
        Kind::Order => "orders",
        Kind::Return => "returnShipments",
        Kind::Shipment => return reason.to_owned(),
    };
    // The entry's own index, or none where a reason names the field of every entry.
    for first in [format!("{field}[0]"), format!("{field}[]")] {
        if let Some(at) = reason.find(&first) {
            return format!(
                "{}{field}[{position}]{}",
                &reason[..at],
                &reason[at + first.len()..]
            );
        }
    }
    format!("{field}[{position}]: {reason}")
}

/// Validates a body read as a value tree (a kept body, an entry of one) as `kind`.
pub fn validate_body(
    kind: Kind,
    body: Map<String, Value>,
    tz: Tz,
) -> Result<Delivery<'static>, Invalid> {
    validate_value(kind, body, tz)
}

/// Removes `apiKey` from every object nested in a value: only the top level and the returns
/// wrapper authenticate, and a key anywhere else must not be stored or published either.
pub(crate) fn drop_keys(value: &mut Value) {
    match value {
        Value::Object(map) => {
            map.remove("apiKey");
            map.values_mut().for_each(drop_keys);
        }
        Value::Array(list) => list.iter_mut().for_each(drop_keys),
        _ => {}
    }
}

fn take_key(map: &mut Map<String, Value>) -> Option<ApiKey> {
    match map.remove("apiKey") {
        Some(Value::String(s)) if !s.is_empty() => Some(ApiKey::new(s)),
        Some(Value::Number(n)) => Some(ApiKey::new(n.to_string())),
        _ => None,
    }
}

impl Envelope {
    /// The body without any `apiKey`, as a JSON object.
    pub fn body(&self) -> Map<String, Value> {
        self.body.clone()
    }

    /// Validates the body as its kind. The delivery owns its text: each string is moved out of
    /// the body's value tree.
    pub fn validate(self, tz: Tz) -> Result<Delivery<'static>, Invalid> {
        validate_value(self.kind, self.body, tz)
    }
}

fn validate_value(
    kind: Kind,
    body: Map<String, Value>,
    tz: Tz,
) -> Result<Delivery<'static>, Invalid> {
    match kind {
        Kind::Shipment => shipment::validate(body, tz).map(|ev| Delivery::Shipment(Box::new(ev))),
        Kind::Return => returns::validate(body, tz).map(Delivery::Returns),
        Kind::Order => orders::validate(body, tz).map(Delivery::Orders),
    }
}

/// Parses JSON, refusing an object with the same key twice: with two `apiKey`s, which one counts
/// would depend on the parser, so such a body is refused rather than guessed at.
fn strict_json(bytes: &[u8]) -> Result<Value, Unreadable> {
    parse::<true>(bytes)
}

/// Parses JSON where a name given twice keeps its last value, as serde_json does, except `apiKey`:
/// two of those in one object are still refused.
fn last_wins_json(bytes: &[u8]) -> Result<Value, Unreadable> {
    parse::<false>(bytes)
}

/// A refusal for a name given twice says `apiKey` where the body also has two of those: the
/// strict reader stops at the first name repeated, and a body with two keys must be answered as
/// one no key can be told of (400), never claimed by the last key.
fn keys_first(bytes: &[u8], refusal: Unreadable) -> Unreadable {
    match &refusal {
        Unreadable::DuplicateKey(name) if name != API_KEY => match last_wins_json(bytes) {
            Err(keys @ Unreadable::DuplicateKey(_)) => keys,
            _ => refusal,
        },
        _ => refusal,
    }
}

fn parse<const STRICT: bool>(bytes: &[u8]) -> Result<Value, Unreadable> {
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let value = Json::<STRICT>::deserialize(&mut de)
        .and_then(|v| de.end().map(|()| v.0))
        .map_err(|e| {
            let msg = e.to_string();
            match msg.strip_prefix(DUPLICATE) {
                Some(rest) => Unreadable::DuplicateKey(
                    rest.split(" at line").next().unwrap_or(rest).to_owned(),
                ),
                None => Unreadable::NotJson(msg),
            }
        })?;
    Ok(value)
}

const DUPLICATE: &str = "duplicate key ";
const API_KEY: &str = "apiKey";

/// A JSON value read with every name once (`STRICT`), or with only `apiKey` once.
struct Json<const STRICT: bool>(Value);

impl<'de, const STRICT: bool> Deserialize<'de> for Json<STRICT> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(JsonVisitor::<STRICT>).map(Json)
    }
}

struct JsonVisitor<const STRICT: bool>;

impl<'de, const STRICT: bool> Visitor<'de> for JsonVisitor<STRICT> {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::Number(v.into()))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::Number(v.into()))
    }
    fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
        Ok(Number::from_f64(v).map_or(Value::Null, Value::Number))
    }
    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_owned()))
    }
    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }
    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::new();
        while let Some(Json::<STRICT>(item)) = seq.next_element()? {
            items.push(item);
        }
        Ok(Value::Array(items))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut access: A) -> Result<Value, A::Error> {
        let mut map = Map::new();
        while let Some(key) = access.next_key::<String>()? {
            let Json::<STRICT>(value) = access.next_value()?;
            match map.entry(key) {
                serde_json::map::Entry::Vacant(slot) => {
                    slot.insert(value);
                }
                serde_json::map::Entry::Occupied(mut taken)
                    if !STRICT && taken.key() != API_KEY =>
                {
                    taken.insert(value);
                }
                serde_json::map::Entry::Occupied(taken) => {
                    let shown: String = taken.key().chars().take(40).collect();
                    return Err(de::Error::custom(format!("{DUPLICATE}{shown}")));
                }
            }
        }
        Ok(Value::Object(map))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::dates::rome;

    #[test]
    fn kinds_are_told_apart() {
        let cases: [(&str, Option<Kind>); 7] = [
            (
                r#"{"trackingNumber":"X","qaplaStatusID":"3"}"#,
                Some(Kind::Shipment),
            ),
            (r#"{"qaplaStatusID":"3"}"#, Some(Kind::Shipment)),
            (r#"{"orders":[]}"#, Some(Kind::Order)),
            (r#"{"returnShipments":[]}"#, Some(Kind::Return)),
            (r#"{"webhookReturnShipments":{}}"#, Some(Kind::Return)),
            (r#"{"apiKey":"k"}"#, None),
            (r#"{}"#, None),
        ];
        for (body, kind) in cases {
            let got = read(body.as_bytes()).map(|e| e.kind).ok();
            assert_eq!(got, kind, "{body}");
        }
    }

    #[test]
    fn reading_rejections() {
        let cases: [(&[u8], &str); 12] = [
            (b"", "empty_body"),
            (b"  \n", "empty_body"),
            (b"not json", "not_json"),
            (b"{\"a\":", "not_json"),
            (b"[1,2]", "not_object"),
            (b"\"text\"", "not_object"),
            (b"null", "not_object"),
            (b"{\"trackingNumber\":\"X\"} trailing", "not_json"),
            (b"{\"trackingNumber\":\"\xff\"}", "not_json"),
            (
                b"{\"apiKey\":\"a\",\"apiKey\":\"b\",\"orders\":[]}",
                "duplicate_key",
            ),
            (b"{\"orders\":[{\"x\":1,\"x\":2}]}", "duplicate_key"),
            (b"{\"unrelated\":true}", "unknown_kind"),
        ];
        for (body, code) in cases {
            let err = read(body).expect_err(&String::from_utf8_lossy(body));
            assert_eq!(err.code(), code, "{}", String::from_utf8_lossy(body));
        }
    }

    /// Two `apiKey`s are refused as such wherever they are and whatever name repeats first:
    /// which key would count depends on the parser, so no key may claim the body.
    #[test]
    fn two_api_keys_are_told_whatever_name_repeats_first() {
        let cases: [&[u8]; 4] = [
            br#"{"apiKey":"a","apiKey":"b","orders":[]}"#,
            br#"{"place":"A","place":"B","apiKey":"a","trackingNumber":"X","apiKey":"b"}"#,
            br#"{"apiKey":"a","orders":[{"x":{"y":1,"y":2}}],"apiKey":"b"}"#,
            br#"{"x":1,"x":2,"webhookReturnShipments":{"apiKey":"a","apiKey":"b","returnShipments":[]}}"#,
        ];
        for body in cases {
            let refusal = read(body).expect_err("refused");
            let said = String::from_utf8_lossy(body);
            assert_eq!(refusal, Unreadable::DuplicateKey("apiKey".into()), "{said}");
            assert!(lenient(body, &refusal).is_none(), "{said}");
        }
        // Another name twice and one key: still a body a key may claim, its last value kept.
        let body = br#"{"apiKey":"a","place":"A","place":"B","trackingNumber":"X"}"#;
        let refusal = read(body).expect_err("refused");
        assert_eq!(refusal, Unreadable::DuplicateKey("place".into()));
        let (key, kept) = lenient(body, &refusal).expect("claimable");
        assert_eq!(key, Some(ApiKey::new("a")));
        assert_eq!(kept.get("place"), Some(&Value::String("B".into())));
    }

    #[test]
    fn rejection_messages_read_as_english() {
        assert_eq!(
            Unreadable::UnknownKind.to_string(),
            "the body is not a Qapla' webhook"
        );
    }

    #[test]
    fn deep_nesting_is_an_error_not_a_crash() {
        let deep = "[".repeat(100_000);
        let body = format!("{{\"orders\":{deep}");
        assert_eq!(
            read(body.as_bytes()).map(|_| ()).map_err(|e| e.code()),
            Err("not_json")
        );
    }

    #[test]
    fn key_is_taken_out_of_both_places() {
        let env = read(br#"{"apiKey":"top","trackingNumber":"X"}"#).expect("read");
        assert_eq!(env.key, Some(ApiKey::new("top")));
        assert!(!env.body().contains_key("apiKey"));
        let env = read(br#"{"webhookReturnShipments":{"apiKey":"in","returnShipments":[]}}"#)
            .expect("read");
        assert_eq!(env.key, Some(ApiKey::new("in")));
        assert!(!serde_json::to_string(&env.body())
            .expect("json")
            .contains("\"in\""));
        let env = read(
            br#"{"apiKey":"top","orders":[{"reference":"R","apiKey":"deep","rows":[{"apiKey":"deeper"}]}]}"#,
        )
        .expect("read");
        let text = serde_json::Value::Object(env.body()).to_string();
        assert!(!text.contains("apiKey") && !text.contains("deep"), "{text}");
        let env = read(br#"{"apiKey":"","orders":[]}"#).expect("read");
        assert_eq!(env.key, None);
    }

    /// Each refusal in the reader's own words, byte for byte: they are logged and kept with a
    /// quarantined body.
    #[test]
    fn refusals_are_said_word_for_word() {
        let cases: [(&[u8], &str); 8] = [
            (
                br#"{"apiKey":"k","trackingNumber":"X","qaplaStatusID":"6","consignee":"Mario Rossi"}"#,
                "body.consignee: invalid type: string, expected struct Party",
            ),
            (
                br#"{"apiKey":"k","trackingNumber":"X","qaplaStatusID":"6","courier":"DHL"}"#,
                "missing date",
            ),
            (
                br#"{"apiKey":"k","trackingNumber":"X","qaplaStatusID":"6","courier":"DHL","date":"2026-13-01 10:00:00"}"#,
                "date: not a date of the form YYYY-MM-DD HH:MM:SS between the years 1 and 9999",
            ),
            (br#"{"apiKey":"k","orders":[]}"#, "orders is empty"),
            (
                br#"{"apiKey":"k","orders":[{"reference":"A"},{"reference":"B","return":2}]}"#,
                r#"orders[1].return: invalid value: integer, expected a flag: 0, 1, "0", "1", true or false"#,
            ),
            (
                br#"{"webhookReturnShipments":{"apiKey":"k","returnShipments":[{"sender":{"name":7}}]}}"#,
                "returnShipments[0].RMA: neither RMA nor trackingNumber",
            ),
            (
                br#"{"apiKey":"k","orders":[{"reference":"A","x":{"y":1,"y":2}}]}"#,
                r#"unreadable: duplicate key "y" in a JSON object"#,
            ),
            (
                br#"{"apiKey":"k","trackingNumber":"X"} {}"#,
                "unreadable: not JSON: trailing characters at line 1 column 37",
            ),
        ];
        for (body, said) in cases {
            let got = match read(body) {
                Err(e) => format!("unreadable: {e}"),
                Ok(env) => env
                    .validate(rome())
                    .map_or_else(|e| e.to_string(), |d| format!("{:?}", d.kind())),
            };
            assert_eq!(got, said, "{}", String::from_utf8_lossy(body));
        }
    }

    #[test]
    fn every_fixture_reads_and_validates() {
        for f in crate::fixtures::ALL {
            let name = f.name;
            let env = read(f.bytes()).unwrap_or_else(|e| panic!("{name}: {e}"));
            let expected = f.kind;
            assert_eq!(env.kind, expected, "{name}");
            assert!(env.key.is_some(), "{name}");
            env.validate(rome())
                .unwrap_or_else(|e| panic!("{name}: {e}"));
        }
    }

    #[test]
    fn a_body_of_entries_splits_into_one_body_each_and_reasons_name_the_entry() {
        let orders: Map<String, Value> =
            serde_json::from_str(r#"{"orders":[{"reference":"A"},{"reference":"B"}],"extra":1}"#)
                .expect("json");
        let split = each_entry(Kind::Order, &orders).expect("two entries");
        assert_eq!(split.len(), 2);
        assert_eq!(
            Value::Object(split[1].1.clone()),
            serde_json::json!({"orders":[{"reference":"B"}],"extra":1})
        );
        let wrapped: Map<String, Value> = serde_json::from_str(
            r#"{"webhookReturnShipments":{"id":"7","returnShipments":[{"RMA":"1"},{"RMA":"2"},{"RMA":"3"}]}}"#,
        )
        .expect("json");
        let split = each_entry(Kind::Return, &wrapped).expect("three entries");
        assert_eq!(
            Value::Object(split[2].1.clone()),
            serde_json::json!({"webhookReturnShipments":{"id":"7","returnShipments":[{"RMA":"3"}]}})
        );
        let one: Map<String, Value> =
            serde_json::from_str(r#"{"orders":[{"reference":"A"}]}"#).expect("json");
        assert!(each_entry(Kind::Order, &one).is_none());
        assert!(each_entry(Kind::Shipment, &orders).is_none());
        let cases = [
            (Kind::Order, "orders[0].date: x", 7, "orders[7].date: x"),
            (
                Kind::Order,
                "orders[].shipDate: x",
                3,
                "orders[3].shipDate: x",
            ),
            (
                Kind::Return,
                "returnShipments[0].RMA: x",
                2,
                "returnShipments[2].RMA: x",
            ),
            (
                Kind::Order,
                "missing reference",
                4,
                "orders[4]: missing reference",
            ),
        ];
        for (kind, reason, at, said) in cases {
            assert_eq!(at_position(kind, reason, at), said);
        }
    }
}
