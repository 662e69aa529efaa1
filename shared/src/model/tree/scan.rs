//! The reader of [`Node`]s: strict JSON (RFC 8259, as serde_json reads it) straight from the
//! body's text, in one pass.
//!
//! Profiling showed half of a small delivery's parse inside serde_json's generic visitor calls
//! (a UTF-8 check per string, a call per token) and in growing each container's vector. Here the
//! body is checked as UTF-8 once, a string is a slice of it unless it holds an escape, and each
//! container is allocated once, at its final size, from a scratch stack.
//!
//! It may refuse more than serde_json does, never less: whatever it refuses is read again by the
//! `Value` path, whose answer stands. So anything unusual is refused rather than interpreted:
//! nesting deeper than [`MAX_DEPTH`], an escape that is not a valid character, and numbers other
//! than plain integers are handed to serde_json itself, so that every number reads as the `Value`
//! path reads it.

use super::Node;
use serde_json::{Number, Value};
use std::borrow::Cow;
use std::cell::Cell;

/// Deeper nesting is left to the `Value` path (serde_json's own limit is 128).
const MAX_DEPTH: usize = 100;

/// Reads one JSON value and nothing after it but whitespace. `None` for anything else, and for an
/// object with the same key twice.
pub(super) fn parse(bytes: &[u8]) -> Option<Node<'_>> {
    let text = std::str::from_utf8(bytes).ok()?;
    let scratch = SCRATCH.take().unwrap_or_else(Scratch::new);
    let mut reader = Reader {
        text,
        pos: 0,
        depth: 0,
        values: scratch.values,
        top: 0,
        keys: scratch.keys,
        order: scratch.order,
        known: scratch.known,
    };
    reader.value()?;
    reader.skip_space();
    (reader.pos == text.len() && reader.top == 1).then_some(())?;
    let root = std::mem::replace(reader.values.first_mut()?, Node::Null);
    SCRATCH.set(Scratch::kept(
        reader.values,
        reader.keys,
        reader.order,
        reader.known,
    ));
    Some(root)
}

/// The reader's two stacks, its sort order and the orders it knows (see [`KnownOrders`]), kept
/// between the bodies a thread reads: allocating the stacks, filling the value slots with `Null`
/// and dropping each slot again cost 2% of the instructions of a small shipment's whole reading
/// and validation.
struct Scratch {
    values: Vec<Node<'static>>,
    keys: Vec<Cow<'static, str>>,
    order: Vec<(u64, usize)>,
    known: KnownOrders,
}

thread_local! {
    static SCRATCH: Cell<Option<Scratch>> = const { Cell::new(None) };
}

impl Scratch {
    /// Room for a small delivery: growing the stacks showed in profiles.
    const SLOTS: usize = 32;
    /// Stacks a larger body grew are not kept past it.
    const KEPT: usize = 4 * Self::SLOTS;

    fn new() -> Self {
        Scratch {
            // Written slot by slot: `vec![Node::Null; n]` clones the first into the others.
            values: std::iter::repeat_with(|| Node::Null)
                .take(Self::SLOTS)
                .collect(),
            keys: Vec::with_capacity(Self::SLOTS),
            order: Vec::with_capacity(Self::SLOTS),
            known: KnownOrders::default(),
        }
    }

    /// The scratch of a body read whole, for the next body. Each value slot holds `Null` again
    /// (every container took its values) and no key is left, so nothing borrowed from this body
    /// survives (the orders hold only integers); collected in place, the vectors keep their
    /// memory.
    fn kept(
        values: Vec<Node<'_>>,
        mut keys: Vec<Cow<'_, str>>,
        order: Vec<(u64, usize)>,
        known: KnownOrders,
    ) -> Option<Self> {
        if values.len() > Self::KEPT {
            return None;
        }
        keys.clear();
        let values = values
            .into_iter()
            .map(|slot| {
                debug_assert!(matches!(slot, Node::Null), "a slot left full");
                // A `Null` owns nothing: forgotten, not dropped, it costs no call.
                std::mem::forget(slot);
                Node::Null
            })
            .collect();
        let keys = keys
            .into_iter()
            .map(|key| Cow::Owned(key.into_owned()))
            .collect();
        Some(Scratch {
            values,
            keys,
            order,
            known,
        })
    }
}

/// The sort orders of the last few objects with many members, each found by the members' heads
/// (see [`head`]) in the order the body gave them. A sender writes an object's members in the
/// same order every time (Qapla' does), so an order found here, the one sorting the same heads
/// gives, is copied instead of sorted again: 2 to 3% of a whole 1.2 shipment (paired bench runs).
#[derive(Default)]
struct KnownOrders {
    known: Vec<Known>,
    /// The entry replaced next, once all are taken.
    next: usize,
}

struct Known {
    heads: Vec<u64>,
    sorted: Vec<(u64, usize)>,
}

impl KnownOrders {
    /// A small object (a status detail's two members) sorts in a few steps and is not looked
    /// up; a larger one than this is not kept. (The bounds are chosen, not measured.)
    const MEMBERS: std::ops::RangeInclusive<usize> = 8..=64;
    /// Enough for a delivery's kinds of objects (a return, its parties, its rows).
    const ENTRIES: usize = 4;

    /// Sorts the members' heads (with their positions, in the body's order) by head.
    fn sort(&mut self, order: &mut [(u64, usize)]) {
        if !Self::MEMBERS.contains(&order.len()) {
            order.sort_unstable_by_key(|&(head, _)| head);
            return;
        }
        let same = |known: &&Known| {
            known.heads.len() == order.len()
                && known.heads.iter().zip(order.iter()).all(|(a, b)| *a == b.0)
        };
        if let Some(known) = self.known.iter().find(same) {
            order.copy_from_slice(&known.sorted);
            return;
        }
        let heads = order.iter().map(|&(head, _)| head).collect();
        order.sort_unstable_by_key(|&(head, _)| head);
        let known = Known {
            heads,
            sorted: order.to_vec(),
        };
        if self.known.len() < Self::ENTRIES {
            self.known.push(known);
        } else {
            self.known[self.next] = known;
            self.next = (self.next + 1) % Self::ENTRIES;
        }
    }
}

/// A key's first eight bytes as one integer, zero-padded: two keys whose heads differ are in the
/// order of their heads; equal heads leave the order to the whole keys.
// Built in a register: copied into a zeroed buffer first, the bytes were read back as one
// word right after their narrower stores, which stalled (store forwarding).
fn head(key: &str) -> u64 {
    match key.as_bytes().first_chunk::<8>() {
        Some(eight) => u64::from_be_bytes(*eight),
        None => {
            let short = key.bytes().fold(0u64, |word, b| word << 8 | u64::from(b));
            // Fewer than eight bytes: shifted up, as if zero-padded.
            // (An empty key is all padding: shifted by 64, which `checked_shl` refuses.)
            short.checked_shl(8 * (8 - key.len() as u32)).unwrap_or(0)
        }
    }
}

/// Marks (its high bit) each byte of `word` that ends a run of plain string text: a quote, a
/// backslash or a control character. Bytes after the first marked one may be marked wrongly (a
/// borrow carries over), never the first: only the lowest mark counts.
fn ends_run(word: u64) -> u64 {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    let zero_in = |w: u64| w.wrapping_sub(ONES) & !w & HIGH;
    let below_space = word.wrapping_sub(ONES * 0x20) & !word & HIGH;
    zero_in(word ^ (ONES * u64::from(b'"')))
        | zero_in(word ^ (ONES * u64::from(b'\\')))
        | below_space
}

struct Reader<'a> {
    text: &'a str,
    pos: usize,
    depth: usize,
    /// The values read and not yet in their container, innermost last, below `top`: each value
    /// is written here as it is read, and a container takes its own when it closes. Returned
    /// instead, a value went through the stack at each level, and the copies stalled on the
    /// stores just made (store forwarding, in profiles). The slots above `top` hold `Null`.
    values: Vec<Node<'a>>,
    top: usize,
    /// The keys of the objects being read, beside their values in `values`.
    keys: Vec<Cow<'a, str>>,
    /// The sort order of the object being closed (see [`Reader::sorted_members`]).
    order: Vec<(u64, usize)>,
    known: KnownOrders,
}

impl<'a> Reader<'a> {
    fn bytes(&self) -> &'a [u8] {
        self.text.as_bytes()
    }

    fn peek(&self) -> Option<u8> {
        self.bytes().get(self.pos).copied()
    }

    fn skip_space(&mut self) {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.peek() {
            self.pos += 1;
        }
    }

    /// Takes `byte` after any whitespace.
    fn expect(&mut self, byte: u8) -> Option<()> {
        self.skip_space();
        (self.peek()? == byte).then(|| self.pos += 1)
    }

    /// Reads one value and writes it onto `values` (see [`Reader::put`]), room made first.
    fn value(&mut self) -> Option<()> {
        if self.top == self.values.len() {
            self.grow();
        }
        self.skip_space();
        match self.peek()? {
            b'{' => {
                self.enter()?;
                let read = self.object();
                self.depth -= 1;
                read
            }
            b'[' => {
                self.enter()?;
                let read = self.array();
                self.depth -= 1;
                read
            }
            b'"' => {
                let text = self.string()?;
                self.put(Node::String(text))
            }
            b't' => self.literal("true", Node::Bool(true)),
            b'f' => self.literal("false", Node::Bool(false)),
            b'n' => self.literal("null", Node::Null),
            b'-' | b'0'..=b'9' => self.number(),
            _ => None,
        }
    }

    /// Writes a value read into the slot [`Reader::value`] made room for. With `Vec::push`, the
    /// value was assembled on the stack (in case the vector grew) and copied from there right
    /// after, which stalled on the narrower stores that assembled it.
    #[inline(always)]
    fn put(&mut self, node: Node<'a>) -> Option<()> {
        // Swapped in, not assigned: an assignment drops the slot's `Null` first, a call the
        // value would wait through on the stack again.
        let null = std::mem::replace(self.values.get_mut(self.top)?, node);
        self.top += 1;
        drop(null);
        Some(())
    }

    /// Room for one more value, made before it is read (see [`Reader::put`]).
    #[cold]
    fn grow(&mut self) {
        let more = self.values.len().max(32);
        self.values.resize(self.values.len() + more, Node::Null);
    }

    /// One level deeper, past the opening bracket.
    fn enter(&mut self) -> Option<()> {
        if self.depth == MAX_DEPTH {
            return None;
        }
        self.depth += 1;
        self.pos += 1;
        Some(())
    }

    fn literal(&mut self, word: &str, node: Node<'a>) -> Option<()> {
        self.text[self.pos..].starts_with(word).then_some(())?;
        self.pos += word.len();
        self.put(node)
    }

    /// After `{`.
    fn object(&mut self) -> Option<()> {
        let start = self.top;
        self.skip_space();
        if self.peek()? == b'}' {
            self.pos += 1;
            return self.put(Node::Object(Vec::new()));
        }
        loop {
            self.skip_space();
            if self.peek()? != b'"' {
                return None;
            }
            let key = self.string()?;
            self.keys.push(key);
            self.expect(b':')?;
            self.value()?;
            self.skip_space();
            match self.peek()? {
                b',' => self.pos += 1,
                b'}' => break,
                _ => return None,
            }
        }
        self.pos += 1;
        let members = self.sorted_members(start)?;
        self.put(Node::Object(members))
    }

    /// The members read since `start` (of `values`; their keys are the last as many of `keys`),
    /// sorted by key; `None` if a key is there twice. Sorted once here, the canonical form needs
    /// no sorting. What is sorted is each key's first eight bytes as one integer with the member's
    /// position (moving whole members and comparing keys with `memcmp` took 40% of a small body's
    /// reading); only keys that share their first eight bytes are compared whole.
    fn sorted_members(&mut self, start: usize) -> Option<Vec<(Cow<'a, str>, Node<'a>)>> {
        let values = &mut self.values[start..self.top];
        let keys_from = self.keys.len() - values.len();
        let keys = &mut self.keys[keys_from..];
        // Kept between objects and bodies: an array on the stack was zeroed for every object.
        self.order.clear();
        self.order
            .extend(keys.iter().enumerate().map(|(i, key)| (head(key), i)));
        let order = &mut self.order[..];
        // By head alone: equal heads are put in order below, by their whole keys.
        self.known.sort(order);
        let mut run = 0;
        while run < order.len() {
            let head = order[run].0;
            let end = run + order[run..].iter().take_while(|o| o.0 == head).count();
            if end - run > 1 {
                let same = &mut order[run..end];
                same.sort_unstable_by(|a, b| keys[a.1].as_bytes().cmp(keys[b.1].as_bytes()));
                if same.windows(2).any(|w| keys[w[0].1] == keys[w[1].1]) {
                    return None;
                }
            }
            run = end;
        }
        let members = order
            .iter()
            .map(|&(_, i)| {
                (
                    std::mem::replace(&mut keys[i], Cow::Borrowed("")),
                    std::mem::replace(&mut values[i], Node::Null),
                )
            })
            .collect();
        self.top = start;
        self.keys.truncate(keys_from);
        Some(members)
    }

    /// After `[`.
    fn array(&mut self) -> Option<()> {
        let start = self.top;
        self.skip_space();
        if self.peek()? == b']' {
            self.pos += 1;
            return self.put(Node::Array(Vec::new()));
        }
        loop {
            self.value()?;
            self.skip_space();
            match self.peek()? {
                b',' => self.pos += 1,
                b']' => break,
                _ => return None,
            }
        }
        self.pos += 1;
        let items = self.values[start..self.top]
            .iter_mut()
            .map(|item| std::mem::replace(item, Node::Null))
            .collect();
        self.top = start;
        self.put(Node::Array(items))
    }

    /// A string at `"`: a slice of the body unless it holds an escape.
    // Inlined, its result stays in registers; returned, it went through memory (see `values`).
    #[inline(always)]
    fn string(&mut self) -> Option<Cow<'a, str>> {
        let bytes = self.bytes();
        let start = self.pos + 1;
        let mut end = start;
        // Eight bytes at a time to the first that ends the plain run, as serde_json does.
        while let Some(eight) = bytes.get(end..end + 8) {
            let mut word = [0u8; 8];
            word.copy_from_slice(eight);
            let found = ends_run(u64::from_le_bytes(word));
            if found != 0 {
                end += (found.trailing_zeros() / 8) as usize;
                break;
            }
            end += 8;
        }
        loop {
            match *bytes.get(end)? {
                b'"' => {
                    self.pos = end + 1;
                    // Both ends sit next to ASCII bytes: a boundary of the checked text.
                    return Some(Cow::Borrowed(&self.text[start..end]));
                }
                b'\\' => return self.escaped(start, end).map(Cow::Owned),
                0..=0x1f => return None,
                _ => end += 1,
            }
        }
    }

    /// The rest of a string with an escape at `end` (`start` after its opening quote).
    #[inline(never)]
    fn escaped(&mut self, start: usize, end: usize) -> Option<String> {
        let bytes = self.bytes();
        let mut owned = String::with_capacity(end - start + 16);
        owned.push_str(&self.text[start..end]);
        self.pos = end;
        loop {
            let run = self.pos;
            loop {
                match *bytes.get(self.pos)? {
                    b'"' | b'\\' => break,
                    0..=0x1f => return None,
                    _ => self.pos += 1,
                }
            }
            owned.push_str(&self.text[run..self.pos]);
            if bytes[self.pos] == b'"' {
                self.pos += 1;
                return Some(owned);
            }
            self.pos += 1;
            let escaped = match *bytes.get(self.pos)? {
                b'"' => '"',
                b'\\' => '\\',
                b'/' => '/',
                b'b' => '\u{8}',
                b'f' => '\u{c}',
                b'n' => '\n',
                b'r' => '\r',
                b't' => '\t',
                b'u' => self.unicode_escape()?,
                _ => return None,
            };
            self.pos += 1;
            owned.push(escaped);
        }
    }

    /// The character of `\uXXXX` (at its `u`), or of a surrogate pair; a lone surrogate is refused.
    /// Leaves `pos` on the escape's last digit.
    fn unicode_escape(&mut self) -> Option<char> {
        let first = self.hex4(self.pos + 1)?;
        self.pos += 4;
        match first {
            0xD800..=0xDBFF => {
                let rest = self.bytes().get(self.pos + 1..self.pos + 3)?;
                if rest != b"\\u" {
                    return None;
                }
                let second = self.hex4(self.pos + 3)?;
                if !(0xDC00..=0xDFFF).contains(&second) {
                    return None;
                }
                self.pos += 6;
                char::from_u32(0x10000 + ((first - 0xD800) << 10) + (second - 0xDC00))
            }
            _ => char::from_u32(first),
        }
    }

    fn hex4(&self, at: usize) -> Option<u32> {
        let digits = self.bytes().get(at..at + 4)?;
        digits.iter().try_fold(0u32, |acc, &d| {
            let v = (d as char).to_digit(16)?;
            Some(acc * 16 + v)
        })
    }

    /// A number. Plain integers are read here; any other form (a fraction, an exponent, an
    /// integer past 64 bits, `-0`) is handed to serde_json, so that it reads as a `Value` would.
    fn number(&mut self) -> Option<()> {
        let bytes = self.bytes();
        let start = self.pos;
        let mut end = start + usize::from(bytes[start] == b'-');
        let digits = end;
        while let Some(b'0'..=b'9') = bytes.get(end) {
            end += 1;
        }
        let int = &self.text[digits..end];
        if bytes.get(end) == Some(&b'.') {
            end += 1;
            while let Some(b'0'..=b'9') = bytes.get(end) {
                end += 1;
            }
        }
        if let Some(b'e' | b'E') = bytes.get(end) {
            end += 1;
            if let Some(b'+' | b'-') = bytes.get(end) {
                end += 1;
            }
            while let Some(b'0'..=b'9') = bytes.get(end) {
                end += 1;
            }
        }
        let token = &self.text[start..end];
        self.pos = end;
        // Plain: no fraction or exponent after the integer digits.
        let plain = digits + int.len() == end;
        let negative = start != digits;
        let leading_zero = int.len() > 1 && int.starts_with('0');
        // `-0` is left to serde_json, which decides what it reads as.
        let negative_zero = negative && int == "0";
        if plain && !int.is_empty() && !leading_zero && int.len() <= 18 && !negative_zero {
            // At most 18 digits: fits an i64 with its sign.
            let n: i64 = int.parse().ok()?;
            return self.put(Node::Number(Number::from(if negative { -n } else { n })));
        }
        let Value::Number(n) = serde_json::from_str::<Value>(token).ok()? else {
            return None;
        };
        self.put(Node::Number(n))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::identity::EventId;
    use proptest::prelude::*;
    use serde::Deserialize;

    /// What this reader may never do: accept what serde_json refuses, or read it differently.
    /// Returns whether it accepted.
    fn agrees_with_serde_json(text: &[u8]) -> Result<bool, String> {
        let Some(node) = parse(text) else {
            return Ok(false);
        };
        let shown = String::from_utf8_lossy(text);
        let value: Value = serde_json::from_slice(text)
            .map_err(|e| format!("accepted {shown:?}, which serde_json refuses: {e}"))?;
        // Read back through the models' deserializer, which hides `apiKey`: none in these inputs.
        let back = Value::deserialize(&node).map_err(|e| e.to_string())?;
        if back != value {
            return Err(format!("{shown:?} read as {back}, serde_json read {value}"));
        }
        if node.event_id() != EventId::of_content(&value) {
            return Err(format!("{shown:?}: another id than the Value path's"));
        }
        Ok(true)
    }

    #[test]
    fn reads_what_serde_json_reads_and_refuses_the_rest() {
        let accepted = [
            "0",
            "-1",
            "123456789012345678",
            "1234567890123456789",
            "18446744073709551615",
            "18446744073709551616",
            "-9223372036854775808",
            "-0",
            "-0.0",
            "0.5",
            "1e2",
            "1E+2",
            "-1.5e-3",
            "2.0",
            r#""plain""#,
            r#""\"\\\/\b\f\n\r\t""#,
            r#""\u00e9\u00E9 \u0000""#,
            r#""\ud83d\ude00""#,
            r#""é€😀""#,
            r#"{"b":1,"a":[true,false,null,{}],"c":{"d":[]}}"#,
            " \t\n\r{ \"a\" : [ 1 , 2 ] } \n",
            r#"{"k\u0065y":1,"key2":2}"#,
        ];
        for text in accepted {
            assert_eq!(agrees_with_serde_json(text.as_bytes()), Ok(true), "{text}");
        }
        let refused = [
            "",
            " ",
            "01",
            "-",
            "1.",
            ".5",
            "1e",
            "1e400",
            "+1",
            "1 2",
            "[1,]",
            "{\"a\":1,}",
            "{\"a\" 1}",
            "{a:1}",
            "{\"a\":1",
            "[",
            "tru",
            "nulls",
            "\"\u{1}\"",
            "\"a",
            r#""\x""#,
            r#""\u00g0""#,
            r#""\ud83d""#,
            r#""\ude00""#,
            r#""\ud83d\u0041""#,
            r#"{"a":1,"a":2}"#,
            r#"{"a":1,"\u0061":2}"#,
            "\u{feff}{}",
        ];
        for text in refused {
            assert_eq!(
                agrees_with_serde_json(text.as_bytes()),
                Ok(false),
                "{text:?}"
            );
        }
        assert_eq!(agrees_with_serde_json(b"\"\xff\""), Ok(false));
        let deep = |n: usize| format!("{}{}", "[".repeat(n), "]".repeat(n));
        assert_eq!(agrees_with_serde_json(deep(MAX_DEPTH).as_bytes()), Ok(true));
        assert_eq!(
            agrees_with_serde_json(deep(MAX_DEPTH + 1).as_bytes()),
            Ok(false)
        );
    }

    /// Pieces of JSON, valid and not, that strung together make text near the edges of the
    /// grammar far more often than random bytes do.
    fn token() -> impl Strategy<Value = &'static str> {
        prop::sample::select(vec![
            "{",
            "}",
            "[",
            "]",
            ",",
            ":",
            " ",
            "\n",
            "\"a\"",
            "\"b\"",
            "\"a",
            "\\",
            "\"\\u00e9\"",
            "\"\\ud83d\\ude00\"",
            "\"\\ud83d\"",
            "\"\\/\"",
            "\"\\n\"",
            "\"\t\"",
            "\"é\"",
            "0",
            "1",
            "-",
            "-0",
            "01",
            ".",
            "5",
            "e",
            "E+",
            "1e400",
            "0.1",
            "18446744073709551616",
            "true",
            "fals",
            "null",
            "u",
            "\"",
        ])
    }

    /// An object read again in the same order of members takes its sort order from the last
    /// reading: the order still sorts its keys whole, and a key twice is still refused.
    #[test]
    fn a_known_order_reads_as_a_first_one() {
        let members = |keys: &[&str]| {
            let list: Vec<String> = keys.iter().map(|k| format!("\"{k}\":\"{k}\"")).collect();
            format!("{{{}}}", list.join(","))
        };
        // Ten members; the last two share their first eight bytes, so only whole keys order them.
        let mut keys = vec![
            "z",
            "y",
            "x",
            "w",
            "v",
            "u",
            "t",
            "s",
            "samehead-b",
            "samehead-a",
        ];
        for _ in 0..3 {
            assert_eq!(agrees_with_serde_json(members(&keys).as_bytes()), Ok(true));
        }
        // The same heads in the same places, the whole keys in the other order.
        keys[8] = "samehead-a";
        keys[9] = "samehead-b";
        assert_eq!(agrees_with_serde_json(members(&keys).as_bytes()), Ok(true));
        keys[9] = "samehead-a";
        assert_eq!(parse(members(&keys).as_bytes()), None, "a key twice");
        // More kinds of objects than are kept, read in turn.
        for round in 0..3 {
            for n in 8..16 {
                let kinds: Vec<String> = (0..n).rev().map(|i| format!("k{i}-{round}")).collect();
                let kinds: Vec<&str> = kinds.iter().map(String::as_str).collect();
                assert_eq!(agrees_with_serde_json(members(&kinds).as_bytes()), Ok(true));
            }
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 4096, ..ProptestConfig::default() })]

        #[test]
        fn never_accepts_what_serde_json_refuses(tokens in prop::collection::vec(token(), 1..16)) {
            let text = tokens.concat();
            agrees_with_serde_json(text.as_bytes()).map_err(TestCaseError::fail)?;
        }

        #[test]
        fn the_first_byte_ending_a_run_is_found_in_a_word(word in any::<[u8; 8]>()) {
            let first = word.iter().position(|&b| b == b'"' || b == b'\\' || b < 0x20);
            let found = ends_run(u64::from_le_bytes(word));
            let at = (found != 0).then(|| (found.trailing_zeros() / 8) as usize);
            prop_assert_eq!(at, first);
        }

        #[test]
        fn heads_order_keys_as_their_bytes(a in "\\PC{0,12}", b in "\\PC{0,12}") {
            // Heads that differ decide; equal heads leave it to the whole keys.
            if head(&a) != head(&b) {
                prop_assert_eq!(head(&a) < head(&b), a.as_bytes() < b.as_bytes());
            }
        }

        #[test]
        fn never_accepts_bytes_serde_json_refuses(bytes in prop::collection::vec(any::<u8>(), 0..64)) {
            agrees_with_serde_json(&bytes).map_err(TestCaseError::fail)?;
        }
    }
}
