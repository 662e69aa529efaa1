//! A body read once into a tree that borrows its text: the fast path of the payload reader.
//!
//! Profiling the parser showed where a delivery's time went: reading the body into a
//! `serde_json::Value` (a `String` for every key and value, a `BTreeMap` per object), then walking
//! it again to drop nested keys, to hash it, and to copy it into the typed model. A [`Node`] keeps
//! keys and unescaped strings as slices of the body and an object as one vector, so reading it
//! allocates little; duplicate keys are refused as it is read; the event id is SHA-256 of the same
//! canonical JSON as [`EventId::of_content`] gives (so ids do not change); and the typed models
//! are read from it directly ([`FromNode`]). `apiKey` is invisible to both at every level.
//!
//! Anything this path refuses is read again by the `Value` path, whose answer stands: the
//! rejection reasons and messages are that path's alone.

mod scan;

use crate::identity::EventId;
use crate::model::flex;
use serde::de::value::{BorrowedStrDeserializer, StrDeserializer};
use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::forward_to_deserialize_any;
use serde_json::Number;
use std::borrow::Cow;
use std::cell::Cell;

/// The key that authenticates a delivery: never part of a model's fields nor of an id.
pub(crate) const API_KEY: &str = "apiKey";

thread_local! {
    /// The buffer [`Node::canonical`] writes into; its [`Canonical`] gives it back when dropped.
    static CANONICAL: Cell<Vec<u8>> = const { Cell::new(Vec::new()) };
}

/// A larger buffer (a large body's) is not kept past its call.
const KEPT_CANONICAL: usize = 16 * 1024;

/// A JSON value whose keys and strings borrow the body where they hold no escape.
#[derive(Debug, Clone, PartialEq)]
pub enum Node<'a> {
    Null,
    Bool(bool),
    Number(Number),
    String(Cow<'a, str>),
    Array(Vec<Node<'a>>),
    /// Members sorted by key (the canonical order, as bytes); no key twice.
    Object(Vec<(Cow<'a, str>, Node<'a>)>),
}

impl<'a> Node<'a> {
    /// Reads a whole body; `None` for anything but one JSON value without duplicate keys.
    pub fn parse(bytes: &'a [u8]) -> Option<Node<'a>> {
        scan::parse(bytes)
    }

    /// The value of `key` in an object.
    pub fn get(&self, key: &str) -> Option<&Node<'a>> {
        match self {
            Node::Object(members) => members
                .binary_search_by(|(k, _)| k.as_ref().cmp(key))
                .ok()
                .map(|i| &members[i].1),
            _ => None,
        }
    }

    /// The content id of this value, as [`EventId::of_content`] gives it for the same JSON:
    /// SHA-256 of its canonical form (keys sorted, no whitespace, no `apiKey`).
    pub fn event_id(&self) -> EventId {
        self.canonical(&[]).id()
    }

    /// The canonical text of this value with where each entry of the array at `path` (keys of
    /// nested objects) sits in it: an entry's canonical form is a span of its container's, so one
    /// text gives the ids of both. No entries where there is no array at `path`.
    pub fn canonical(&self, path: &[&str]) -> Canonical {
        // The buffer is kept per thread between calls: allocating and freeing it cost 1% of a
        // small shipment's reading and validation.
        let mut text = CANONICAL.take();
        let mut spans = Vec::new();
        let end = self.write_recording(path, &mut text, 0, &mut spans);
        Canonical { text, end, spans }
    }

    fn write_recording(
        &self,
        path: &[&str],
        out: &mut Vec<u8>,
        at: usize,
        spans: &mut Vec<(usize, usize)>,
    ) -> usize {
        match (self, path.split_first()) {
            (Node::Array(items), None) => {
                let mut at = put(out, at, b"[");
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        at = put(out, at, b",");
                    }
                    let start = at;
                    at = item.write_canonical(out, at);
                    spans.push((start, at));
                }
                put(out, at, b"]")
            }
            (Node::Object(members), Some((first, rest))) => {
                write_object(members, out, at, |key, value, out, at| {
                    match key == *first {
                        true => value.write_recording(rest, out, at, spans),
                        false => value.write_canonical(out, at),
                    }
                })
            }
            _ => self.write_canonical(out, at),
        }
    }

    /// Writes the canonical text at `at` of `out`; where it ends.
    fn write_canonical(&self, out: &mut Vec<u8>, at: usize) -> usize {
        match self {
            Node::Null => put(out, at, b"null"),
            Node::Bool(true) => put(out, at, b"true"),
            Node::Bool(false) => put(out, at, b"false"),
            Node::Number(n) => match n.as_i64() {
                // The same digits serde_json writes, without its serializer around them.
                Some(int) => put(out, at, itoa::Buffer::new().format(int).as_bytes()),
                // serde_json's own writer keeps the text the `Value` path hashes (its forms).
                None => put_with(out, at, |out| serde_json::to_writer(out, n)),
            },
            Node::String(s) => write_str(s, out, at),
            Node::Array(items) => {
                let mut at = put(out, at, b"[");
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        at = put(out, at, b",");
                    }
                    at = item.write_canonical(out, at);
                }
                put(out, at, b"]")
            }
            Node::Object(members) => write_object(members, out, at, |_, value, out, at| {
                value.write_canonical(out, at)
            }),
        }
    }
}

/// A value's canonical text and the spans of its entries in it (see [`Node::canonical`]).
pub struct Canonical {
    /// The text is `text[..end]`: see [`put`].
    text: Vec<u8>,
    end: usize,
    spans: Vec<(usize, usize)>,
}

impl Canonical {
    /// The content id of the whole value.
    pub fn id(&self) -> EventId {
        EventId::of_canonical(&self.text[..self.end])
    }

    /// The content id of each entry.
    pub fn entry_ids(&self) -> Vec<EventId> {
        self.spans
            .iter()
            .map(|&(start, end)| EventId::of_canonical(&self.text[start..end]))
            .collect()
    }
}

/// The buffer goes back to its thread for the next text.
impl Drop for Canonical {
    fn drop(&mut self) {
        if self.text.len() <= KEPT_CANONICAL {
            CANONICAL.set(std::mem::take(&mut self.text));
        }
    }
}

/// An object's canonical form: its members but `apiKey`, in their (sorted) order, each value
/// written by `value`.
fn write_object<'n, 'a: 'n>(
    members: &'n [(Cow<'a, str>, Node<'a>)],
    out: &mut Vec<u8>,
    at: usize,
    mut value: impl FnMut(&str, &'n Node<'a>, &mut Vec<u8>, usize) -> usize,
) -> usize {
    let mut at = put(out, at, b"{");
    let mut first = true;
    for (key, node) in members.iter().filter(|(k, _)| k != API_KEY) {
        if !first {
            at = put(out, at, b",");
        }
        first = false;
        at = write_str(key, out, at);
        at = put(out, at, b":");
        at = value(key, node, out, at);
    }
    put(out, at, b"}")
}

/// A string as serde_json writes it. One borrowed from the body held no escape there, so it has
/// no quote, backslash or control character (JSON forbids them unescaped) and nothing to escape.
// The `Cow` itself, not a `&str`: whether the text was borrowed is what tells.
#[allow(clippy::ptr_arg)]
fn write_str(s: &Cow<'_, str>, out: &mut Vec<u8>, at: usize) -> usize {
    match s {
        Cow::Borrowed(plain) => {
            let at = put(out, at, b"\"");
            let at = put(out, at, plain.as_bytes());
            put(out, at, b"\"")
        }
        Cow::Owned(text) => put_with(out, at, |out| serde_json::to_writer(out, text.as_str())),
    }
}

/// Writes `bytes` at `at` of `out`; where they end. The canonical text is written over a buffer
/// longer than it, its end carried in registers (arguments and results): kept as the vector's
/// length instead, each piece waited on the length the piece before had just stored. Carried
/// here, a small shipment's id took 8 to 11% less time.
#[inline(always)]
fn put(out: &mut Vec<u8>, at: usize, bytes: &[u8]) -> usize {
    let end = at + bytes.len();
    if end > out.len() {
        grow(out, end);
    }
    copy(&mut out[at..end], bytes);
    end
}

/// `dst.copy_from_slice(src)`, short ones without a call to `memcpy`: a small shipment's
/// canonical text is some thirty pieces of 1 to 20 bytes. Two overlapping words (or half-words)
/// cover 4 to 16 bytes.
#[inline(always)]
fn copy(dst: &mut [u8], src: &[u8]) {
    let n = src.len();
    match n {
        8..=16 => {
            dst[..8].copy_from_slice(&src[..8]);
            dst[n - 8..].copy_from_slice(&src[n - 8..]);
        }
        4..=7 => {
            dst[..4].copy_from_slice(&src[..4]);
            dst[n - 4..].copy_from_slice(&src[n - 4..]);
        }
        1..=3 => {
            dst[0] = src[0];
            dst[n / 2] = src[n / 2];
            dst[n - 1] = src[n - 1];
        }
        _ => dst.copy_from_slice(src),
    }
}

#[cold]
fn grow(out: &mut Vec<u8>, end: usize) {
    out.resize(end.max(256) * 2, 0);
}

/// Writes at `at` what `write` appends to a vector (a writer into a vector cannot fail).
#[cold]
fn put_with(
    out: &mut Vec<u8>,
    at: usize,
    write: impl FnOnce(&mut Vec<u8>) -> serde_json::Result<()>,
) -> usize {
    out.truncate(at);
    let _ = write(out);
    out.len()
}

/// The typed models read from a tree as they would from the same `Value`, with `apiKey` left out
/// at every level (as the `Value` path takes it out before). Text without an escape is lent for
/// as long as the body: a model may keep it without a copy, and outlive the tree.
impl<'de> Deserializer<'de> for &Node<'de> {
    type Error = serde_json::Error;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Self::Error> {
        match self {
            Node::Null => visitor.visit_unit(),
            Node::Bool(b) => visitor.visit_bool(*b),
            Node::Number(n) => n.deserialize_any(visitor),
            Node::String(Cow::Borrowed(s)) => visitor.visit_borrowed_str(s),
            Node::String(Cow::Owned(s)) => visitor.visit_str(s),
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

/// A value the fast path reads straight from a tree: a [`crate::model::tree_model!`] or one of
/// its fields' types. `None` where the value is not one it reads alike with serde (the `Value`
/// path then reads the body, and its answer stands); it may refuse more than serde, never read
/// differently.
pub trait FromNode<'a>: Sized {
    fn from_node(node: &Node<'a>) -> Option<Self>;
}

/// Text, through the very reader its serde attribute names ([`flex::text`]).
impl<'a> FromNode<'a> for Option<Cow<'a, str>> {
    #[inline]
    fn from_node(node: &Node<'a>) -> Option<Self> {
        flex::text(node).ok()
    }
}

/// Text copied, for the models that keep `String`s (the orders'), through [`flex::text`].
impl<'a> FromNode<'a> for Option<String> {
    #[inline]
    fn from_node(node: &Node<'a>) -> Option<Self> {
        flex::text(node).ok()
    }
}

/// A flag, through [`flex::flag`].
impl<'a> FromNode<'a> for Option<bool> {
    #[inline]
    fn from_node(node: &Node<'a>) -> Option<Self> {
        flex::flag(node).ok()
    }
}

/// A list: an array, or `null` for none. A single entry standing for a list (which
/// [`flex::one_or_many`] reads) is refused.
impl<'a, T: FromNode<'a>> FromNode<'a> for Option<Vec<T>> {
    fn from_node(node: &Node<'a>) -> Option<Self> {
        match node {
            Node::Null => Some(None),
            Node::Array(items) => items
                .iter()
                .map(T::from_node)
                .collect::<Option<_>>()
                .map(Some),
            _ => None,
        }
    }
}

struct Items<'n, 'a>(std::slice::Iter<'n, Node<'a>>);

impl<'n, 'a> SeqAccess<'a> for Items<'n, 'a> {
    type Error = serde_json::Error;

    fn next_element_seed<T: DeserializeSeed<'a>>(
        &mut self,
        seed: T,
    ) -> Result<Option<T::Value>, Self::Error> {
        self.0.next().map(|item| seed.deserialize(item)).transpose()
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.0.len())
    }
}

struct Members<'n, 'a> {
    members: std::slice::Iter<'n, (Cow<'a, str>, Node<'a>)>,
    value: Option<&'n Node<'a>>,
}

impl<'n, 'a> MapAccess<'a> for Members<'n, 'a> {
    type Error = serde_json::Error;

    fn next_key_seed<K: DeserializeSeed<'a>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, Self::Error> {
        for (key, value) in self.members.by_ref() {
            if key == API_KEY {
                continue;
            }
            self.value = Some(value);
            return match key {
                Cow::Borrowed(key) => seed.deserialize(BorrowedStrDeserializer::new(key)),
                Cow::Owned(key) => seed.deserialize(StrDeserializer::new(key)),
            }
            .map(Some);
        }
        Ok(None)
    }

    fn next_value_seed<V: DeserializeSeed<'a>>(
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
/// `ids` are the entries' content ids, from [`Node::canonical`].
pub fn each<'a, M: FromNode<'a>, R>(
    body: &Node<'a>,
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
    // Sized up front: collected through `Option`, the vector started at four entries, and four
    // returns (over 3 KiB) is an allocation glibc serves only after consolidating its free lists.
    let mut read = Vec::with_capacity(list.len());
    for (i, (raw, id)) in list.iter().zip(ids).enumerate() {
        if !matches!(raw, Node::Object(_)) {
            return None;
        }
        let model = M::from_node(raw)?;
        read.push(validate(i, id, model)?);
    }
    Some(read)
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
    fn text_of_every_short_length_is_copied_whole() {
        for n in 0..40 {
            let text: String = ('a'..='z').cycle().take(n).collect();
            let body = json!({ text.clone(): text, "n": n }).to_string();
            let canonical = node(&body).canonical(&[]);
            assert_eq!(
                &canonical.text[..canonical.end],
                body.as_bytes(),
                "{n} bytes"
            );
        }
    }

    #[test]
    fn entry_ids_are_those_of_the_entries_alone() {
        let text =
            r#"{"z":1,"apiKey":"k","w":{"apiKey":"k","list":[{"b":"é","a":"\u00e9"},[2],"x"]}}"#;
        let body = node(text);
        let canonical = body.canonical(&["w", "list"]);
        let (whole, entries) = (canonical.id(), canonical.entry_ids());
        assert_eq!(whole, body.event_id());
        let Some(Node::Array(list)) = body.get("w").and_then(|w| w.get("list")) else {
            panic!("a list")
        };
        let alone: Vec<EventId> = list.iter().map(Node::event_id).collect();
        assert_eq!(entries, alone);
        assert_eq!(
            body.canonical(&["w", "nothing"]).entry_ids(),
            Vec::<EventId>::new()
        );
        assert_eq!(body.canonical(&["z"]).entry_ids(), Vec::<EventId>::new());
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
        // Sorted: the escaped key ("esc\"aped") comes before "plain".
        assert!(matches!(members[1].0, Cow::Borrowed("plain")));
        assert!(matches!(members[1].1, Node::String(Cow::Borrowed("abc"))));
        assert!(matches!(members[0].0, Cow::Owned(_)));
        assert_eq!(members[0].1, Node::String(Cow::Owned("a\nb".to_owned())));
    }
}
