//! Property tests over open-ended input: nothing panics, models survive a round trip, an event's
//! id does not depend on how its JSON was written, a name given twice at any depth is refused,
//! an `apiKey` at any depth is never kept, and an unknown field at any depth is.

use crate::fixtures;
use crate::model::shipment::Shipment;
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

/// Fixture `which` as a value with one of its objects, picked by `at`, changed by `edit`, and
/// that object's pointer.
fn fixture_with(
    which: usize,
    at: prop::sample::Index,
    edit: impl FnOnce(&mut Map<String, Value>),
) -> (Value, String) {
    let mut v = fixture_values()[which].clone();
    let mut objects = Vec::new();
    object_pointers(&v, String::new(), &mut objects);
    let at = at.get(&objects).clone();
    if let Some(map) = v.pointer_mut(&at).and_then(Value::as_object_mut) {
        edit(map);
    }
    (v, at)
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

/// Whether an object anywhere in `v` has a member `apiKey`.
fn has_api_key(v: &Value) -> bool {
    match v {
        Value::Object(map) => map.contains_key("apiKey") || map.values().any(has_api_key),
        Value::Array(items) => items.iter().any(has_api_key),
        _ => false,
    }
}

/// The model a delivery keeps for what sits at `at` in its body (a JSON pointer), as JSON, with
/// where `at` is inside it: the shipment's, or the return's or order's whose entry holds `at`.
fn model_at(d: &Delivery, at: &str) -> Option<(Value, String)> {
    let entry = |list: &str| {
        let rest = at.strip_prefix(list)?.strip_prefix('/')?;
        let (index, inside) = rest.split_once('/').map_or((rest, ""), |(i, r)| (i, r));
        Some((
            index.parse::<usize>().ok()?,
            format!("/{inside}").trim_end_matches('/').to_owned(),
        ))
    };
    match d {
        Delivery::Shipment(ev) => Some((serde_json::to_value(&ev.model).ok()?, at.to_owned())),
        Delivery::Returns(r) => {
            let (i, inside) = entry("/webhookReturnShipments/returnShipments")
                .or_else(|| entry("/returnShipments"))?;
            Some((serde_json::to_value(&r.returns.get(i)?.model).ok()?, inside))
        }
        Delivery::Orders(o) => {
            let (i, inside) = entry("/orders")?;
            Some((serde_json::to_value(&o.orders.get(i)?.model).ok()?, inside))
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    /// A name given twice in any object of a fixture, `apiKey` among them, is refused, and the
    /// refusal names it.
    #[test]
    fn a_name_given_twice_at_any_depth_is_refused(
        which in 0usize..fixtures::ALL.len(),
        name in field_name(),
        at in any::<prop::sample::Index>(),
    ) {
        const MARK: &str = "\u{1}mark";
        let (v, _) = fixture_with(which, at, |map| {
            map.remove(&name);
            map.insert(MARK.to_owned(), Value::Null);
        });
        let quoted = Value::String(name.clone()).to_string();
        let marked = format!("{}:null", Value::String(MARK.to_owned()));
        let text = v.to_string().replace(&marked, &format!("{quoted}:1,{quoted}:\"again\""));
        prop_assert_eq!(
            payload::read(text.as_bytes()).map(|e| e.kind),
            Err(payload::Unreadable::DuplicateKey(name)),
            "{}", text
        );
    }

    /// An `apiKey` put in any object of a fixture, with any value, is in neither the body kept
    /// nor any model, and changes no id.
    #[test]
    fn an_api_key_at_any_depth_is_dropped_and_changes_no_id(
        which in 0usize..fixtures::ALL.len(),
        value in json_value(),
        at in any::<prop::sample::Index>(),
    ) {
        let (v, _) = fixture_with(which, at, |map| {
            map.insert("apiKey".to_owned(), value);
        });
        let text = v.to_string();
        let env = payload::read(text.as_bytes()).expect("read");
        prop_assert!(!has_api_key(&Value::Object(env.body())), "{}", text);
        let got = env.validate(rome()).expect("valid");
        let before = payload::read(fixtures::ALL[which].bytes()).expect("read").validate(rome()).expect("valid");
        prop_assert_eq!(delivery_ids(&got), delivery_ids(&before));
        let models: Vec<Value> = match &got {
            Delivery::Shipment(ev) => vec![serde_json::to_value(&ev.model).expect("json")],
            Delivery::Returns(r) => r.returns.iter().map(|x| serde_json::to_value(&x.model).expect("json")).collect(),
            Delivery::Orders(o) => o.orders.iter().map(|x| serde_json::to_value(&x.model).expect("json")).collect(),
        };
        prop_assert!(!models.iter().any(has_api_key), "{}", text);
    }

    /// A field no model names, put in any object of a fixture with any value, is kept as sent:
    /// by the model of what holds it, and in the body kept whatever holds it.
    #[test]
    fn an_unknown_field_at_any_depth_is_kept(
        which in 0usize..fixtures::ALL.len(),
        name in "x-[a-zA-Z]{1,8}",
        value in json_value(),
        at in any::<prop::sample::Index>(),
    ) {
        let value = {
            let mut value = value;
            payload::drop_keys(&mut value);
            value
        };
        let (v, at) = fixture_with(which, at, |map| {
            map.insert(name.clone(), value.clone());
        });
        let text = v.to_string();
        let env = payload::read(text.as_bytes()).expect("read");
        let place = format!("{at}/{name}");
        let kept = Value::Object(env.body());
        prop_assert_eq!(kept.pointer(&place), Some(&value), "{}", text);
        let got = env.validate(rome()).expect("an unknown field is no reason to refuse");
        if let Some((model, inside)) = model_at(&got, &at) {
            prop_assert_eq!(model.pointer(&format!("{inside}/{name}")), Some(&value), "{}", text);
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

/// `v` read as sent and with its keys shuffled by `seed`: the same delivery, both ways.
fn read_as_sent_and_shuffled(v: &Value, seed: u64) -> (Delivery<'static>, Delivery<'static>) {
    let mut shuffled = String::new();
    let mut s = seed;
    write_shuffled(v, &mut s, &mut shuffled);
    let read = |text: &str| {
        payload::read(text.as_bytes())
            .expect("read")
            .validate(rome())
            .expect("valid")
    };
    (read(&v.to_string()), read(&shuffled))
}

proptest! {
    // Large bodies: fewer cases, each up to a megabyte.
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    /// Any number of orders reads whole, in order, each with its own id; shuffled, the same ids.
    #[test]
    fn many_orders_read_whole(count in 1usize..600, seed in 1u64..u64::MAX) {
        let v = fixtures::many_orders(count);
        let (a, b) = read_as_sent_and_shuffled(&v, seed);
        let Delivery::Orders(orders) = &a else { panic!("orders") };
        prop_assert_eq!(orders.orders.len(), count);
        prop_assert_eq!(delivery_ids(&a), delivery_ids(&b));
    }

    /// A large 1.3 body reads, keeps its rows, and its id does not depend on its key order.
    #[test]
    fn large_shipments_read_whole(kb in 1usize..1000, varied in any::<bool>(), seed in 1u64..u64::MAX) {
        let v = fixtures::large_shipment(kb * 1024, varied);
        let (a, b) = read_as_sent_and_shuffled(&v, seed);
        let Delivery::Shipment(ev) = &a else { panic!("shipment") };
        prop_assert_eq!(ev.model.rows.as_ref().map(Vec::len), v["rows"].as_array().map(Vec::len));
        prop_assert_eq!(delivery_ids(&a), delivery_ids(&b));
    }
}
