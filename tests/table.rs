//! Reading a table back, and comparing two.

use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};

/// Items keyed by (pk, sk).
pub type Items = BTreeMap<(String, String), Value>;

/// Every item of a table, keyed by (pk, sk), as JSON.
pub async fn scan(client: &aws_sdk_dynamodb::Client, table: &str) -> Items {
    let mut out = BTreeMap::new();
    let mut start = None;
    loop {
        let page = client
            .scan()
            .table_name(table)
            .set_exclusive_start_key(start)
            .send()
            .await
            .expect("scan");
        for item in page.items() {
            let value: Value = serde_dynamo::from_item(item.clone()).expect("item as JSON");
            let pk = value["pk"].as_str().unwrap_or_default().to_owned();
            let sk = value["sk"].as_str().unwrap_or_default().to_owned();
            out.insert((pk, sk), value);
        }
        match page.last_evaluated_key() {
            Some(key) => start = Some(key.clone()),
            None => return out,
        }
    }
}

/// The table without the attributes that depend on when a delivery arrived.
pub fn timeless(items: &Items) -> Items {
    items
        .iter()
        .map(|(k, v)| {
            let mut v = v.clone();
            if let Some(map) = v.as_object_mut() {
                map.remove("receivedAt");
                map.remove("expiresAt");
            }
            (k.clone(), v)
        })
        .collect()
}

/// Asserts two tables hold the same items, naming the first few keys that differ.
pub fn assert_same_table(got: &Items, want: &Items) {
    let name = |item: Option<&Value>| {
        item.map_or("nothing".into(), |v| {
            v.get("statusName").map_or("item".into(), Value::to_string)
        })
    };
    let keys: BTreeSet<_> = got.keys().chain(want.keys()).collect();
    let differ: Vec<String> = keys
        .into_iter()
        .filter(|k| got.get(*k) != want.get(*k))
        .take(5)
        .map(|k| {
            format!(
                "{} | {}: got {} / want {}",
                k.0,
                k.1,
                name(got.get(k)),
                name(want.get(k))
            )
        })
        .collect();
    assert!(
        differ.is_empty(),
        "tables differ ({} vs {} items):\n{}",
        got.len(),
        want.len(),
        differ.join("\n")
    );
}
