//! DynamoDB's own limits, checked before a write so that no value Qapla' sends can make the store
//! refuse an item: key sizes, the range of numbers, nesting depth, item and transaction sizes.
//! What does not fit is kept in a form that does (the text of a number, an index key left out
//! with its value kept, a payload compressed or moved to the archive), never dropped.

use serde_json::{Map, Number, Value};
use std::ops::Range;

/// Largest partition key, in bytes (table and index).
pub const MAX_PARTITION_KEY: usize = 2048;
/// Largest sort key, in bytes (table and index).
pub const MAX_SORT_KEY: usize = 1024;
/// Largest item, in bytes: names and values together.
pub const MAX_ITEM: usize = 400 * 1024;
/// Deepest nesting of lists and maps DynamoDB stores.
pub const MAX_DEPTH: usize = 32;
/// Most items in one `TransactWriteItems` call.
pub const MAX_TRANSACTION_ITEMS: usize = 100;
/// Most bytes in one `TransactWriteItems` call.
pub const MAX_TRANSACTION_BYTES: usize = 4 * 1024 * 1024;

/// Does this value fit as a partition key of the table or an index?
pub fn fits_partition_key(key: &str) -> bool {
    !key.is_empty() && key.len() <= MAX_PARTITION_KEY
}

/// Does this value fit as a sort key of the table or an index?
pub fn fits_sort_key(key: &str) -> bool {
    !key.is_empty() && key.len() <= MAX_SORT_KEY
}

/// An index key pair, or none where either part would not fit: the item is then left out of the
/// index, and the values stay in the item's own attributes.
pub fn index_keys(pk: Option<String>, sk: Option<String>) -> (Option<String>, Option<String>) {
    match (pk, sk) {
        (Some(pk), Some(sk)) if fits_partition_key(&pk) && fits_sort_key(&sk) => {
            (Some(pk), Some(sk))
        }
        _ => (None, None),
    }
}

/// Can DynamoDB store this number? Its numbers hold 38 significant digits, with magnitudes from
/// 1E-130 to under 1E+126. JSON integers of 64 bits and doubles (17 digits) always fit the
/// precision; only the range needs a look.
pub fn fits_number(n: &Number) -> bool {
    if n.is_i64() || n.is_u64() {
        return true;
    }
    n.as_f64()
        .is_some_and(|f| f == 0.0 || (1e-130..1e126).contains(&f.abs()))
}

/// Makes a JSON value storable: a number out of DynamoDB's range becomes its text. Returns how
/// many numbers were rewritten.
pub fn storable(value: &mut Value) -> usize {
    match value {
        Value::Number(n) if !fits_number(n) => {
            *value = Value::String(n.to_string());
            1
        }
        Value::Array(items) => items.iter_mut().map(storable).sum(),
        Value::Object(map) => storable_map(map),
        _ => 0,
    }
}

fn storable_map(map: &mut Map<String, Value>) -> usize {
    map.values_mut().map(storable).sum()
}

/// How deeply lists and maps nest in a value (a scalar is 0, `[]` is 1).
pub fn depth(value: &Value) -> usize {
    match value {
        Value::Array(items) => 1 + items.iter().map(depth).max().unwrap_or(0),
        Value::Object(map) => 1 + map.values().map(depth).max().unwrap_or(0),
        _ => 0,
    }
}

/// Splits items of the given sizes, in order, into consecutive transactions within DynamoDB's
/// limits of items and bytes per call. An item larger than `max_bytes` gets a call of its own
/// (the store will refuse it, and the delivery is quarantined).
pub fn batches(sizes: &[usize], max_items: usize, max_bytes: usize) -> Vec<Range<usize>> {
    let max_items = max_items.max(1);
    let mut out = Vec::new();
    let mut start = 0;
    let mut bytes = 0usize;
    for (i, &size) in sizes.iter().enumerate() {
        let full = i - start >= max_items || (i > start && bytes.saturating_add(size) > max_bytes);
        if full {
            out.push(start..i);
            start = i;
            bytes = 0;
        }
        bytes = bytes.saturating_add(size);
    }
    if start < sizes.len() {
        out.push(start..sizes.len());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    #[test]
    fn numbers_out_of_range_become_text() {
        let mut v: Value = serde_json::from_str(
            r#"{"ok": [1, -2.5, 1e125, 0.0, 18446744073709551615], "big": 1e300,
                "tiny": -1e-200, "deep": {"x": [9.9e200]}}"#,
        )
        .expect("json");
        assert_eq!(storable(&mut v), 3);
        assert_eq!(
            v["ok"],
            json!([1, -2.5, 1e125, 0.0, 18446744073709551615u64])
        );
        assert_eq!(v["big"], json!("1e+300"));
        assert_eq!(v["tiny"], json!("-1e-200"));
        assert_eq!(v["deep"]["x"][0], json!("9.9e+200"));
    }

    #[test]
    fn index_keys_over_the_limit_are_left_out() {
        let long = "R".repeat(MAX_PARTITION_KEY + 1);
        assert_eq!(
            index_keys(Some("a".into()), Some("b".into())),
            (Some("a".into()), Some("b".into()))
        );
        assert_eq!(index_keys(Some(long), Some("b".into())), (None, None));
        let long_sk = "S".repeat(MAX_SORT_KEY + 1);
        assert_eq!(index_keys(Some("a".into()), Some(long_sk)), (None, None));
        assert_eq!(
            index_keys(Some(String::new()), Some("b".into())),
            (None, None)
        );
        assert_eq!(index_keys(None, Some("b".into())), (None, None));
    }

    #[test]
    fn depth_counts_containers() {
        assert_eq!(depth(&json!(1)), 0);
        assert_eq!(depth(&json!([])), 1);
        assert_eq!(depth(&json!({"a": [{"b": 1}]})), 3);
    }

    #[test]
    fn batches_by_count_and_bytes() {
        assert_eq!(batches(&[], 100, 10), Vec::<Range<usize>>::new());
        assert_eq!(
            batches(&[1; 250], 100, 1000),
            vec![0..100, 100..200, 200..250]
        );
        assert_eq!(batches(&[4, 4, 4, 4], 100, 10), vec![0..2, 2..4]);
        assert_eq!(batches(&[20, 1, 1], 100, 10), vec![0..1, 1..3]);
    }

    proptest! {
        /// Every item lands in exactly one batch, in order; no batch is over either limit
        /// unless it is a single item too large for any.
        #[test]
        fn batches_cover_everything_within_limits(
            sizes in proptest::collection::vec(0usize..5_000, 0..600),
            max_items in 1usize..120,
            max_bytes in 1usize..50_000,
        ) {
            let got = batches(&sizes, max_items, max_bytes);
            let mut next = 0;
            for range in &got {
                prop_assert_eq!(range.start, next);
                prop_assert!(range.end > range.start);
                prop_assert!(range.len() <= max_items);
                let bytes: usize = sizes[range.clone()].iter().sum();
                prop_assert!(bytes <= max_bytes || range.len() == 1);
                next = range.end;
            }
            prop_assert_eq!(next, sizes.len());
            // Greedy: a batch closes only when the next item would not fit it.
            for pair in got.windows(2) {
                let (a, b) = (&pair[0], &pair[1]);
                let bytes: usize = sizes[a.clone()].iter().sum();
                prop_assert!(a.len() == max_items || bytes + sizes[b.start] > max_bytes);
            }
        }

        #[test]
        fn storable_leaves_every_number_in_range(x in proptest::num::f64::NORMAL) {
            let mut v = json!({"n": x, "l": [x]});
            storable(&mut v);
            for n in [&v["n"], &v["l"][0]] {
                if let Value::Number(n) = n {
                    prop_assert!(fits_number(n));
                }
            }
        }
    }
}
