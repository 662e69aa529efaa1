//! A body read once into a tree that borrows its text: the fast path of the payload reader.
//!
//! Profiling the parser showed where a delivery's time went: reading the body into a
//! `serde_json::Value` (a `String` for every key and value, a `BTreeMap` per object), then walking
//! it again to drop nested keys, to hash it, and to copy it into the typed model. A [`Node`] keeps
//! keys and unescaped strings as slices of the body and an object as one vector, so reading it
//! allocates little; duplicate keys are refused as it is read; the event id is SHA-256 of the same
//! canonical JSON as [`EventId::of_content`] gives (so ids do not change); and the typed models
//! deserialize from it directly. `apiKey` is invisible to both at every level.
//!
//! Anything this path refuses is read again by the `Value` path, whose answer stands: the
//! rejection reasons and messages are that path's alone.

use crate::identity::EventId;
use serde::de::value::BorrowedStrDeserializer;
use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::forward_to_deserialize_any;
use serde_json::Number;
use std::borrow::Cow;
use std::fmt;

/// The key that authenticates a delivery: never part of a model's fields nor of an id.
const API_KEY: &str = "apiKey";

/// A JSON value whose keys and strings borrow the body where they hold no escape.
#[derive(Debug, Clone, PartialEq)]
pub enum Node<'a> {
    Null,
    Bool(bool),
    Number(Number),
    String(Cow<'a, str>),
    Array(Vec<Node<'a>>),
    /// Members in the order sent; no key twice.
    Object(Vec<(Cow<'a, str>, Node<'a>)>),
}

impl<'a> Node<'a> {
    /// Reads a whole body; `None` for anything but one JSON value without duplicate keys.
    pub fn parse(bytes: &'a [u8]) -> Option<Node<'a>> {
        let mut de = serde_json::Deserializer::from_slice(bytes);
        let node = de::Deserialize::deserialize(&mut de).ok()?;
        de.end().ok()?;
        Some(node)
    }

    /// The value of `key` in an object.
    pub fn get(&self, key: &str) -> Option<&Node<'a>> {
        match self {
            Node::Object(members) => members.iter().find(|(k, _)| k == key).map(|(_, v)| v),
            _ => None,
        }
    }

    /// The content id of this value, as [`EventId::of_content`] gives it for the same JSON:
    /// SHA-256 of its canonical form (keys sorted, no whitespace, no `apiKey`).
    pub fn event_id(&self) -> EventId {
        let mut canonical = Vec::with_capacity(256);
        self.write_canonical(&mut canonical);
        EventId::of_canonical(&canonical)
    }

    /// The content id of this value and of each entry of the array at `path` (keys of nested
    /// objects) inside it, from one canonical text: an entry's canonical form is a span of its
    /// container's. No ids for the entries where there is no array at `path`.
    pub fn event_ids(&self, path: &[&str]) -> (EventId, Vec<EventId>) {
        let mut canonical = Vec::with_capacity(1024);
        let mut spans = Vec::new();
        self.write_recording(path, &mut canonical, &mut spans);
        let entries = spans
            .into_iter()
            .map(|(start, end)| EventId::of_canonical(&canonical[start..end]))
            .collect();
        (EventId::of_canonical(&canonical), entries)
    }

    fn write_recording(&self, path: &[&str], out: &mut Vec<u8>, spans: &mut Vec<(usize, usize)>) {
        match (self, path.split_first()) {
            (Node::Array(items), None) => {
                out.push(b'[');
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        out.push(b',');
                    }
                    let start = out.len();
                    item.write_canonical(out);
                    spans.push((start, out.len()));
                }
                out.push(b']');
            }
            (Node::Object(members), Some((first, rest))) => {
                write_object(members, out, |key, value, out| match key == *first {
                    true => value.write_recording(rest, out, spans),
                    false => value.write_canonical(out),
                });
            }
            _ => self.write_canonical(out),
        }
    }

    fn write_canonical(&self, out: &mut Vec<u8>) {
        match self {
            Node::Null => out.extend_from_slice(b"null"),
            Node::Bool(true) => out.extend_from_slice(b"true"),
            Node::Bool(false) => out.extend_from_slice(b"false"),
            // Writing into a vector cannot fail; serde_json's own writer keeps the text the
            // `Value` path hashes (its number forms).
            Node::Number(n) => {
                let _ = serde_json::to_writer(&mut *out, n);
            }
            Node::String(s) => write_str(s, out),
            Node::Array(items) => {
                out.push(b'[');
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        out.push(b',');
                    }
                    item.write_canonical(out);
                }
                out.push(b']');
            }
            Node::Object(members) => {
                write_object(members, out, |_, value, out| value.write_canonical(out));
            }
        }
    }
}

/// An object's canonical form: its members but `apiKey`, sorted by key, each value written by
/// `value`.
fn write_object<'n, 'a: 'n>(
    members: &'n [(Cow<'a, str>, Node<'a>)],
    out: &mut Vec<u8>,
    mut value: impl FnMut(&str, &'n Node<'a>, &mut Vec<u8>),
) {
    let mut order: Vec<&(Cow<'a, str>, Node<'a>)> =
        members.iter().filter(|(k, _)| k != API_KEY).collect();
    order.sort_unstable_by(|a, b| a.0.cmp(&b.0));
    out.push(b'{');
    for (i, (key, node)) in order.into_iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        write_str(key, out);
        out.push(b':');
        value(key, node, out);
    }
    out.push(b'}');
}

/// A string as serde_json writes it. One borrowed from the body held no escape there, so it has
/// no quote, backslash or control character (JSON forbids them unescaped) and nothing to escape.
// The `Cow` itself, not a `&str`: whether the text was borrowed is what tells.
#[allow(clippy::ptr_arg)]
fn write_str(s: &Cow<'_, str>, out: &mut Vec<u8>) {
    match s {
        Cow::Borrowed(plain) => {
            out.push(b'"');
            out.extend_from_slice(plain.as_bytes());
            out.push(b'"');
        }
        // Writing into a vector cannot fail.
        Cow::Owned(text) => {
            let _ = serde_json::to_writer(&mut *out, text.as_str());
        }
    }
}

/// No key twice in one object. Small objects (the common case) compare pairwise, without
/// allocating; larger ones sort their keys.
fn has_duplicate(members: &[(Cow<'_, str>, Node<'_>)]) -> bool {
    if members.len() <= 16 {
        return members
            .iter()
            .enumerate()
            .any(|(i, (k, _))| members[..i].iter().any(|(other, _)| other == k));
    }
    let mut keys: Vec<&str> = members.iter().map(|(k, _)| k.as_ref()).collect();
    keys.sort_unstable();
    keys.windows(2).any(|w| w[0] == w[1])
}

impl<'de> de::Deserialize<'de> for Node<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(NodeVisitor)
    }
}

struct NodeVisitor;

impl<'de> Visitor<'de> for NodeVisitor {
    type Value = Node<'de>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_bool<E>(self, v: bool) -> Result<Node<'de>, E> {
        Ok(Node::Bool(v))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Node<'de>, E> {
        Ok(Node::Number(v.into()))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Node<'de>, E> {
        Ok(Node::Number(v.into()))
    }
    // As `Value` reads a number: one that is not finite becomes null.
    fn visit_f64<E>(self, v: f64) -> Result<Node<'de>, E> {
        Ok(Number::from_f64(v).map_or(Node::Null, Node::Number))
    }
    fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Node<'de>, E> {
        Ok(Node::String(Cow::Borrowed(v)))
    }
    fn visit_str<E>(self, v: &str) -> Result<Node<'de>, E> {
        Ok(Node::String(Cow::Owned(v.to_owned())))
    }
    fn visit_string<E>(self, v: String) -> Result<Node<'de>, E> {
        Ok(Node::String(Cow::Owned(v)))
    }
    fn visit_unit<E>(self) -> Result<Node<'de>, E> {
        Ok(Node::Null)
    }
    fn visit_none<E>(self) -> Result<Node<'de>, E> {
        Ok(Node::Null)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Node<'de>, A::Error> {
        let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(64));
        while let Some(item) = seq.next_element()? {
            items.push(item);
        }
        Ok(Node::Array(items))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut access: A) -> Result<Node<'de>, A::Error> {
        let mut members = Vec::with_capacity(access.size_hint().unwrap_or(0).min(64));
        while let Some(key) = access.next_key_seed(KeySeed)? {
            members.push((key, access.next_value()?));
        }
        if has_duplicate(&members) {
            return Err(de::Error::custom("duplicate key"));
        }
        Ok(Node::Object(members))
    }
}

/// A key borrowed from the body unless it holds an escape.
struct KeySeed;

impl<'de> DeserializeSeed<'de> for KeySeed {
    type Value = Cow<'de, str>;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for KeySeed {
    type Value = Cow<'de, str>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a key")
    }
    fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Self::Value, E> {
        Ok(Cow::Borrowed(v))
    }
    fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
        Ok(Cow::Owned(v.to_owned()))
    }
    fn visit_string<E>(self, v: String) -> Result<Self::Value, E> {
        Ok(Cow::Owned(v))
    }
}

/// The typed models read from a tree as they would from the same `Value`, with `apiKey` left out
/// at every level (as the `Value` path takes it out before).
impl<'de, 'a: 'de> Deserializer<'de> for &'de Node<'a> {
    type Error = serde_json::Error;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Self::Error> {
        match self {
            Node::Null => visitor.visit_unit(),
            Node::Bool(b) => visitor.visit_bool(*b),
            Node::Number(n) => n.deserialize_any(visitor),
            Node::String(s) => visitor.visit_borrowed_str(s),
            Node::Array(items) => visitor.visit_seq(Items(items.iter())),
            Node::Object(members) => visitor.visit_map(Members {
                members: members.iter(),
                value: None,
            }),
        }
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Self::Error> {
        match self {
            Node::Null => visitor.visit_none(),
            _ => visitor.visit_some(self),
        }
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, Self::Error> {
        visitor.visit_newtype_struct(self)
    }

    forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf
        unit unit_struct seq tuple tuple_struct map struct enum identifier ignored_any
    }
}

struct Items<'de, 'a>(std::slice::Iter<'de, Node<'a>>);

impl<'de, 'a: 'de> SeqAccess<'de> for Items<'de, 'a> {
    type Error = serde_json::Error;

    fn next_element_seed<T: DeserializeSeed<'de>>(
        &mut self,
        seed: T,
    ) -> Result<Option<T::Value>, Self::Error> {
        self.0.next().map(|item| seed.deserialize(item)).transpose()
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.0.len())
    }
}

struct Members<'de, 'a> {
    members: std::slice::Iter<'de, (Cow<'a, str>, Node<'a>)>,
    value: Option<&'de Node<'a>>,
}

impl<'de, 'a: 'de> MapAccess<'de> for Members<'de, 'a> {
    type Error = serde_json::Error;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, Self::Error> {
        for (key, value) in self.members.by_ref() {
            if key == API_KEY {
                continue;
            }
            self.value = Some(value);
            return seed
                .deserialize(BorrowedStrDeserializer::new(key.as_ref()))
                .map(Some);
        }
        Ok(None)
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(
        &mut self,
        seed: V,
    ) -> Result<V::Value, Self::Error> {
        match self.value.take() {
            Some(value) => seed.deserialize(value),
            None => Err(de::Error::custom("a value before its key")),
        }
    }
}

/// Reads each entry of the array `field` of an object as the model `M` and hands it, with its
/// position and content id, to `validate`: the fast twin of [`crate::model::each`]. `None`
/// wherever that one would refuse (then it says why).
/// `ids` are the entries' content ids, from [`Node::event_ids`].
pub fn each<'a, M: de::Deserialize<'a>, R>(
    body: &'a Node<'_>,
    field: &str,
    ids: Vec<EventId>,
    mut validate: impl FnMut(usize, EventId, M) -> Option<R>,
) -> Option<Vec<R>> {
    let Some(Node::Array(list)) = body.get(field) else {
        return None;
    };
    if list.is_empty() || list.len() != ids.len() {
        return None;
    }
    list.iter()
        .zip(ids)
        .enumerate()
        .map(|(i, (raw, id))| {
            if !matches!(raw, Node::Object(_)) {
                return None;
            }
            let model = M::deserialize(raw).ok()?;
            validate(i, id, model)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;
    use serde_json::{json, Value};

    fn node(text: &str) -> Node<'_> {
        Node::parse(text.as_bytes()).expect("reads")
    }

    #[test]
    fn ids_are_those_of_the_value_path() {
        for text in [
            r#"{"b":"x","a":1}"#,
            r#"{"a":1.5,"b":[1,-2,3.25e10,{"z":null,"y":true}],"apiKey":"k","c":"é\n\"\\/\u0001"}"#,
            r#"{"n":18446744073709551615,"m":-9223372036854775808,"f":1e300,"g":0.1,"h":1E2}"#,
            r#"{"k\u0065y":"v\u00e9","nested":{"apiKey":"deep","x":{"apiKey":1}}}"#,
            r#"[1,{"b":2,"a":[]},"s",false,null]"#,
            r#""just text""#,
        ] {
            let value: Value = serde_json::from_str(text).expect("json");
            assert_eq!(node(text).event_id(), EventId::of_content(&value), "{text}");
        }
        assert_eq!(
            node(r#"{"b":"x","a":1}"#).event_id().as_str(),
            "ecf9e98ec0641e23113ff3ce8bdc78d0"
        );
    }

    #[test]
    fn entry_ids_are_those_of_the_entries_alone() {
        let text =
            r#"{"z":1,"apiKey":"k","w":{"apiKey":"k","list":[{"b":"é","a":"\u00e9"},[2],"x"]}}"#;
        let body = node(text);
        let (whole, entries) = body.event_ids(&["w", "list"]);
        assert_eq!(whole, body.event_id());
        let Some(Node::Array(list)) = body.get("w").and_then(|w| w.get("list")) else {
            panic!("a list")
        };
        let alone: Vec<EventId> = list.iter().map(Node::event_id).collect();
        assert_eq!(entries, alone);
        assert_eq!(body.event_ids(&["w", "nothing"]).1, Vec::<EventId>::new());
        assert_eq!(body.event_ids(&["z"]).1, Vec::<EventId>::new());
    }

    #[test]
    fn duplicate_keys_are_refused_at_every_level() {
        for text in [
            r#"{"a":1,"a":2}"#,
            r#"{"a":{"b":1,"b":1}}"#,
            r#"{"a":[{"x":1},{"x":1,"x":1}]}"#,
            r#"{"apiKey":"a","apiKey":"b"}"#,
            r#"{"a":1,"\u0061":2}"#,
        ] {
            assert_eq!(Node::parse(text.as_bytes()), None, "{text}");
        }
        let many: String = (0..40)
            .map(|i| format!("\"k{i}\":{i}"))
            .chain(["\"k7\":0".to_owned()])
            .collect::<Vec<_>>()
            .join(",");
        assert_eq!(Node::parse(format!("{{{many}}}").as_bytes()), None);
        let distinct: String = (0..40)
            .map(|i| format!("\"k{i}\":{i}"))
            .collect::<Vec<_>>()
            .join(",");
        assert!(Node::parse(format!("{{{distinct}}}").as_bytes()).is_some());
    }

    #[test]
    fn not_json_is_refused() {
        for text in ["", "{", "{\"a\":1} x", "[1,]", "{\"a\":\"\u{1}\"}"] {
            assert_eq!(Node::parse(text.as_bytes()), None, "{text:?}");
        }
        assert_eq!(Node::parse(b"{\"a\":\"\xff\"}"), None);
    }

    #[test]
    fn models_read_as_from_the_value_without_the_key() {
        let text = r#"{"apiKey":"k","a":1,"b":{"apiKey":"deep","c":[1.5,"x",null]},"d":"q\"uote"}"#;
        let from_tree = Value::deserialize(&node(text)).expect("value");
        let mut expected: Value = serde_json::from_str(text).expect("json");
        if let Some(map) = expected.as_object_mut() {
            map.remove("apiKey");
        }
        expected["b"]
            .as_object_mut()
            .map(|b| b.remove("apiKey"))
            .expect("object");
        assert_eq!(from_tree, expected);
        assert_eq!(
            expected,
            json!({"a":1,"b":{"c":[1.5,"x",null]},"d":"q\"uote"})
        );
    }

    #[test]
    fn escaped_text_is_owned_and_plain_text_borrowed() {
        let n = node(r#"{"plain":"abc","esc\"aped":"a\nb"}"#);
        let Node::Object(members) = &n else {
            panic!("an object")
        };
        assert!(matches!(members[0].0, Cow::Borrowed(_)));
        assert!(matches!(members[0].1, Node::String(Cow::Borrowed("abc"))));
        assert!(matches!(members[1].0, Cow::Owned(_)));
        assert_eq!(members[1].1, Node::String(Cow::Owned("a\nb".to_owned())));
    }
}
