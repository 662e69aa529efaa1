//! Property tests over open-ended input: nothing panics, models survive a round trip, and an
//! event's id does not depend on how its JSON was written.

use crate::fixtures;
use crate::model::returns::ReturnShipment;
use crate::model::shipment::Shipment;
use crate::model::tree::{FromNode, Node};
use crate::payload::{self, Delivery};
use proptest::prelude::*;
use serde::Deserialize;
use serde_json::{Map, Value};

use crate::dates::rome;

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        (-1e9f64..1e9).prop_map(Value::from),
        "[ -~àé€\\n]{0,12}".prop_map(Value::String),
        prop_oneof![
            Just("0"),
            Just("1"),
            Just("6"),
            Just("2026-03-02 09:41:07"),
            Just("")
        ]
        .prop_map(|s| Value::String(s.to_owned())),
    ];
    leaf.prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::btree_map(field_name(), inner, 0..6)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// Names that hit the models' own fields as often as unknown ones.
fn field_name() -> impl Strategy<Value = String> {
    prop_oneof![
        prop::sample::select(vec![
            "apiKey",
            "trackingNumber",
            "qaplaStatusID",
            "qaplaStatus",
            "statusDetails",
            "date",
            "courier",
            "return",
            "hasChildren",
            "rows",
            "parcels",
            "consignee",
            "orders",
            "returnShipments",
            "webhookReturnShipments",
            "id",
            "detail",
            "RMA",
            "reference",
            "custom1",
            "isChild",
            "sender",
            "name",
            "code",
            "sku",
            "qty",
            "parcelID",
            "isReturnable",
            "boxCode",
            "country",
            "customerName",
            "isPOD",
        ])
        .prop_map(str::to_owned),
        "[a-zA-Z]{1,8}",
    ]
}

/// Writes JSON with object keys in a seeded random order and random spacing.
fn write_shuffled(v: &Value, seed: &mut u64, out: &mut String) {
    fn next(seed: &mut u64) -> u64 {
        *seed ^= *seed << 13;
        *seed ^= *seed >> 7;
        *seed ^= *seed << 17;
        *seed
    }
    match v {
        Value::Object(map) => {
            let mut entries: Vec<(&String, &Value)> = map.iter().collect();
            for i in (1..entries.len()).rev() {
                let j = (next(seed) % (i as u64 + 1)) as usize;
                entries.swap(i, j);
            }
            out.push('{');
            for (i, (k, val)) in entries.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                if next(seed) % 2 == 0 {
                    out.push_str("\n  ");
                }
                out.push_str(&Value::String(k.clone()).to_string());
                out.push_str(if next(seed) % 2 == 0 { " : " } else { ":" });
                write_shuffled(val, seed, out);
            }
            out.push('}');
        }
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                write_shuffled(item, seed, out);
            }
            out.push(']');
        }
        scalar => out.push_str(&scalar.to_string()),
    }
}

fn fixture_values() -> Vec<Value> {
    fixtures::ALL
        .iter()
        .filter_map(|f| serde_json::from_str(f.body).ok())
        .collect()
}

/// Where each object of `v` sits, as JSON pointers.
fn object_pointers(v: &Value, at: String, found: &mut Vec<String>) {
    match v {
        Value::Object(map) => {
            for (k, item) in map {
                object_pointers(item, format!("{at}/{k}"), found);
            }
            found.push(at);
        }
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                object_pointers(item, format!("{at}/{i}"), found);
            }
        }
        _ => {}
    }
}

/// A model read from a tree is the model serde reads from the same JSON, wherever the tree reader
/// does not refuse it.
fn same_model<'a, M>(node: &Node<'a>, value: &Value) -> Result<(), TestCaseError>
where
    M: FromNode<'a> + Deserialize<'a> + PartialEq + std::fmt::Debug,
{
    if let Some(from_tree) = M::from_node(node) {
        // Without `apiKey` at any level, as the `Value` path reads a body.
        let mut value = value.clone();
        payload::drop_keys(&mut value);
        let from_value = M::deserialize(value);
        prop_assert_eq!(Some(from_tree), from_value.ok());
    }
    Ok(())
}

/// The node at a JSON pointer of object keys.
fn pointer<'n, 'a>(node: &'n Node<'a>, at: &str) -> Option<&'n Node<'a>> {
    at.split('/').skip(1).try_fold(node, |n, key| n.get(key))
}

fn delivery_ids(d: &Delivery) -> Vec<String> {
    match d {
        Delivery::Shipment(ev) => vec![ev.id.to_string()],
        Delivery::Returns(r) => std::iter::once(r.id.to_string())
            .chain(r.returns.iter().map(|x| x.event_id.to_string()))
            .collect(),
        Delivery::Orders(o) => std::iter::once(o.id.to_string())
            .chain(o.orders.iter().map(|x| x.event_id.to_string()))
            .collect(),
    }
}

/// What a body comes to, as the webhook sees it: the rejection's code and message, or the key
/// and the delivery.
fn outcome(envelope: Result<payload::Envelope<'_>, payload::Unreadable>) -> String {
    match envelope {
        Err(e) => format!("unreadable {}: {e}", e.code()),
        Ok(env) => {
            let head = format!("{:?} {:?}", env.kind, env.key);
            match env.validate(rome()) {
                Ok(d) => format!("{head} {d:?} {:?}", delivery_ids(&d)),
                Err(e) => format!("{head} invalid: {e}"),
            }
        }
    }
}

/// The fast path (a borrowed tree) and the `Value` path give the same answer for `bytes`.
fn same_answer_both_ways(bytes: &[u8]) -> Result<(), TestCaseError> {
    prop_assert_eq!(
        outcome(payload::read(bytes)),
        outcome(payload::read_value(bytes)),
        "{}",
        String::from_utf8_lossy(bytes)
    );
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn both_paths_agree_on_arbitrary_bytes(bytes in prop::collection::vec(any::<u8>(), 0..256)) {
        same_answer_both_ways(&bytes)?;
    }

    #[test]
    fn both_paths_agree_on_arbitrary_json(v in json_value()) {
        same_answer_both_ways(v.to_string().as_bytes())?;
    }

    /// Fixtures with a field added or replaced (a model's own fields as often as unknown ones,
    /// `apiKey` among them), at the top or in the first entry of a list: accepted or refused
    /// alike, with the same delivery, ids and reasons.
    #[test]
    fn both_paths_agree_on_fixtures_with_arbitrary_fields(
        which in 0usize..fixtures::ALL.len(),
        field in field_name(),
        value in json_value(),
        nested in any::<bool>(),
    ) {
        let mut v = fixture_values()[which].clone();
        let entries = [
            "/webhookReturnShipments/returnShipments/0",
            "/returnShipments/0",
            "/orders/0",
            "/rows/0",
            "/statusDetails/0",
        ];
        let at = match nested {
            true => entries.into_iter().find(|p| v.pointer(p).is_some()).unwrap_or(""),
            false => "",
        };
        if let Some(map) = v.pointer_mut(at).and_then(Value::as_object_mut) {
            map.insert(field, value);
        }
        same_answer_both_ways(v.to_string().as_bytes())?;
    }

    /// The models the fast path reads from a tree (without serde) read as serde reads them from
    /// the same JSON: each fixture with a field added or replaced in any of its objects, as the
    /// whole shipment, as each return, and as each of their parties.
    #[test]
    fn tree_models_read_as_serde_does(
        which in 0usize..fixtures::ALL.len(),
        field in field_name(),
        value in json_value(),
        at in any::<prop::sample::Index>(),
    ) {
        let mut v = fixture_values()[which].clone();
        let mut objects = Vec::new();
        object_pointers(&v, String::new(), &mut objects);
        if let Some(map) = v.pointer_mut(at.get(&objects).as_str()).and_then(Value::as_object_mut) {
            map.insert(field, value);
        }
        let text = v.to_string();
        let Some(node) = Node::parse(text.as_bytes()) else {
            return Ok(());
        };
        same_model::<Shipment>(&node, &v)?;
        if let (Some(Value::Array(orders)), Some(Node::Array(nodes))) =
            (v.get("orders"), node.get("orders"))
        {
            for (order, order_node) in orders.iter().zip(nodes) {
                same_model::<crate::model::orders::Order>(order_node, order)?;
            }
        }
        let returns = ["/webhookReturnShipments/returnShipments", "/returnShipments"];
        for list in returns {
            let (Some(Value::Array(entries)), Some(Node::Array(nodes))) =
                (v.pointer(list), pointer(&node, list))
            else {
                continue;
            };
            for (entry, entry_node) in entries.iter().zip(nodes) {
                same_model::<ReturnShipment>(entry_node, entry)?;
                for party in ["sender", "consignee"] {
                    if let (Some(p), Some(p_node)) = (entry.get(party), entry_node.get(party)) {
                        same_model::<Option<crate::model::party::Party>>(p_node, p)?;
                    }
                }
            }
        }
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        if let Ok(env) = payload::read(&bytes) {
            let _ = env.validate(rome());
        }
    }

    #[test]
    fn arbitrary_json_never_panics(v in json_value()) {
        let text = v.to_string();
        if let Ok(env) = payload::read(text.as_bytes()) {
            let _ = env.validate(rome());
        }
    }

    #[test]
    fn fixtures_with_arbitrary_fields_never_panic(
        which in 0usize..fixtures::ALL.len(),
        field in field_name(),
        value in json_value(),
    ) {
        let mut v = fixture_values()[which].clone();
        if let Some(map) = v.as_object_mut() {
            map.insert(field, value);
        }
        if let Ok(env) = payload::read(v.to_string().as_bytes()) {
            let _ = env.validate(rome());
        }
    }

    #[test]
    fn shipment_model_round_trips(field in field_name(), value in json_value()) {
        let mut v: Value = serde_json::from_str(fixtures::SHIPMENT_DELIVERED_1_3.body)
            .unwrap_or_default();
        if let Some(map) = v.as_object_mut() {
            map.remove("apiKey");
            if field != "apiKey" {
                map.insert(field, value);
            }
        }
        if let Ok(model) = Shipment::deserialize(v) {
            let text = serde_json::to_string(&model).expect("serialise");
            let again: Shipment = serde_json::from_str(&text).expect("parse again");
            prop_assert_eq!(model, again);
        }
    }

    #[test]
    fn shuffled_keys_and_spacing_keep_the_id(which in 0usize..fixtures::ALL.len(), seed in 1u64..u64::MAX) {
        let v = &fixture_values()[which];
        let mut shuffled = String::new();
        let mut s = seed;
        write_shuffled(v, &mut s, &mut shuffled);
        let text = v.to_string();
        let a = payload::read(text.as_bytes()).expect("read").validate(rome()).expect("valid");
        let b = payload::read(shuffled.as_bytes()).expect("read shuffled").validate(rome()).expect("valid");
        prop_assert_eq!(delivery_ids(&a), delivery_ids(&b));
    }

    #[test]
    fn the_key_does_not_change_the_id(which in 0usize..fixtures::ALL.len(), key in "[a-z0-9-]{1,20}") {
        let mut v = fixture_values()[which].clone();
        let set = |m: &mut Map<String, Value>| { m.insert("apiKey".into(), Value::String(key.clone())); };
        if let Some(map) = v.as_object_mut() {
            match map.get_mut("webhookReturnShipments").and_then(Value::as_object_mut) {
                Some(inner) => set(inner),
                None => set(map),
            }
        }
        let a = payload::read(fixtures::ALL[which].bytes()).expect("read").validate(rome()).expect("valid");
        let text = v.to_string();
        let b = payload::read(text.as_bytes()).expect("read").validate(rome()).expect("valid");
        prop_assert_eq!(delivery_ids(&a), delivery_ids(&b));
    }
}

proptest! {
    // Large bodies: fewer cases, each up to a megabyte.
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    /// Any number of orders reads whole, in order, each with its own id; shuffled, the same ids.
    #[test]
    fn many_orders_read_whole(count in 1usize..600, seed in 1u64..u64::MAX) {
        let v = fixtures::many_orders(count);
        let mut shuffled = String::new();
        let mut s = seed;
        write_shuffled(&v, &mut s, &mut shuffled);
        let text = v.to_string();
        let a = payload::read(text.as_bytes()).expect("read").validate(rome()).expect("valid");
        let b = payload::read(shuffled.as_bytes()).expect("read").validate(rome()).expect("valid");
        let Delivery::Orders(orders) = &a else { panic!("orders") };
        prop_assert_eq!(orders.orders.len(), count);
        prop_assert_eq!(delivery_ids(&a), delivery_ids(&b));
    }

    /// A large 1.3 body reads, keeps its rows, and its id does not depend on its key order.
    #[test]
    fn large_shipments_read_whole(kb in 1usize..1000, varied in any::<bool>(), seed in 1u64..u64::MAX) {
        let v = fixtures::large_shipment(kb * 1024, varied);
        let mut shuffled = String::new();
        let mut s = seed;
        write_shuffled(&v, &mut s, &mut shuffled);
        let text = v.to_string();
        let a = payload::read(text.as_bytes()).expect("read").validate(rome()).expect("valid");
        let b = payload::read(shuffled.as_bytes()).expect("read").validate(rome()).expect("valid");
        let Delivery::Shipment(ev) = &a else { panic!("shipment") };
        prop_assert_eq!(ev.model.rows.as_ref().map(Vec::len), v["rows"].as_array().map(Vec::len));
        prop_assert_eq!(delivery_ids(&a), delivery_ids(&b));
    }
}
