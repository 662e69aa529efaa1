//! Sample deliveries, one per webhook shape, each with the webhook it belongs to. They serve the
//! unit tests, the benchmarks, the integration tests, the examples and the fuzz target; they are
//! not part of the production API (compiled for tests and behind the `fixtures` feature). Their key
//! is the demo channel's ([`DEMO_KEY`], channel [`DEMO_CHANNEL`]).

use crate::kind::Kind;

/// The demo channel's API key, used by the fixtures, the sample events and local runs only.
pub const DEMO_KEY: &str = "demo-key-shop-it";
/// The demo channel's name.
pub const DEMO_CHANNEL: &str = "shop-it";

/// A sample delivery: its name (the file under `shared/fixtures/`), webhook and body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fixture {
    pub name: &'static str,
    pub kind: Kind,
    pub body: &'static str,
}

impl Fixture {
    pub fn bytes(&self) -> &'static [u8] {
        self.body.as_bytes()
    }

    /// The body as a JSON value, to derive variants from.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(self.body)
            .unwrap_or_else(|e| panic!("fixture {} is not JSON: {e}", self.name))
    }

    /// The fixture of this name; a name that is not one panics, listing those that are.
    pub fn named(name: &str) -> &'static Fixture {
        ALL.iter().find(|f| f.name == name).unwrap_or_else(|| {
            let names: Vec<&str> = ALL.iter().map(|f| f.name).collect();
            panic!("no fixture {name:?}; the fixtures are {names:?}")
        })
    }
}

macro_rules! fixture {
    ($kind:expr, $name:literal) => {
        Fixture {
            name: $name,
            kind: $kind,
            body: include_str!(concat!("../fixtures/", $name, ".json")),
        }
    };
}

pub const SHIPMENT_IN_TRANSIT: Fixture = fixture!(Kind::Shipment, "shipment-1.2-in-transit");
pub const SHIPMENT_EXCEPTION_STOCK: Fixture =
    fixture!(Kind::Shipment, "shipment-1.2-exception-stock");
pub const SHIPMENT_FAILED_ATTEMPT: Fixture =
    fixture!(Kind::Shipment, "shipment-1.2-failed-attempt");
pub const SHIPMENT_UNKNOWN_STATUS: Fixture =
    fixture!(Kind::Shipment, "shipment-1.2-unknown-status");
pub const SHIPMENT_DELIVERED_1_3: Fixture = fixture!(Kind::Shipment, "shipment-1.3-delivered");
pub const RETURNS_WRAPPED: Fixture = fixture!(Kind::Return, "returns-wrapped");
pub const RETURNS_FLAT: Fixture = fixture!(Kind::Return, "returns-flat");
pub const ORDERS: Fixture = fixture!(Kind::Order, "orders");

/// Every fixture.
pub const ALL: [Fixture; 8] = [
    SHIPMENT_IN_TRANSIT,
    SHIPMENT_EXCEPTION_STOCK,
    SHIPMENT_FAILED_ATTEMPT,
    SHIPMENT_UNKNOWN_STATUS,
    SHIPMENT_DELIVERED_1_3,
    RETURNS_WRAPPED,
    RETURNS_FLAT,
    ORDERS,
];

/// The webhook configuration of a local run: the demo channel, every other setting at its
/// default, the table named `table`.
pub fn demo_config(table: &str) -> crate::config::WebhookConfig {
    let channels = demo_channels();
    crate::config::WebhookConfig::from_lookup(|var| match var {
        crate::config::TABLE_NAME => Some(table.to_owned()),
        crate::config::QAPLA_CHANNELS => Some(channels.clone()),
        _ => None,
    })
    .unwrap_or_else(|e| panic!("the demo configuration is valid: {e}"))
}

/// The `QAPLA_CHANNELS` entry of the demo channel.
pub fn demo_channels() -> String {
    crate::auth::Channel::entry(
        DEMO_CHANNEL,
        &crate::auth::ApiKey::new(DEMO_KEY),
        crate::auth::OrderTrigger::Created,
    )
}

/// A 1.2 shipment delivery (the in-transit fixture) for `tracking` at the local time `date`, with
/// status `status` and, when given, the detail `detail`.
pub fn shipment_at(
    tracking: &str,
    date: &str,
    status: u32,
    detail: Option<u32>,
) -> serde_json::Value {
    use serde_json::json;
    let mut v = SHIPMENT_IN_TRANSIT.json();
    v["trackingNumber"] = json!(tracking);
    v["date"] = json!(date);
    v["qaplaStatusID"] = json!(status.to_string());
    v["statusDetails"] = match detail {
        Some(d) => json!([{"id": d, "detail": "ON HOLD"}]),
        None => json!([]),
    };
    v
}

/// A 1.3 shipment delivery (the delivered fixture) grown with product rows to about `bytes` of
/// JSON. With `varied`, each row carries notes of hash digits, which gzip cannot shrink much: the
/// body then fits no table item even compressed, as a large order with free text would.
pub fn large_shipment(bytes: usize, varied: bool) -> serde_json::Value {
    use serde_json::json;
    let mut body = SHIPMENT_DELIVERED_1_3.json();
    let mut rows = Vec::new();
    let mut size = body.to_string().len();
    let mut n = 0u64;
    while size < bytes {
        let notes = if varied {
            (0..6)
                .map(|k| crate::identity::EventId::of_content(&json!([n, k])).to_string())
                .collect::<String>()
        } else {
            "Maglietta girocollo, cotone biologico; taglia M".to_owned()
        };
        let row = json!({
            "id": n.to_string(), "sku": format!("SKU-{n:06}"), "name": "T-shirt Città ✓",
            "price": "20.0", "total": "20.0", "qty": "1", "weight": "0.2",
            "isReturnable": true, "notes": notes, "parcelID": "1"
        });
        size += row.to_string().len() + 1;
        rows.push(row);
        n += 1;
    }
    body["rows"] = serde_json::Value::Array(rows);
    body
}

/// An orders delivery of `count` orders (the orders fixture's first, each with its own reference
/// and tracking number).
pub fn many_orders(count: usize) -> serde_json::Value {
    let mut body = ORDERS.json();
    let first = body["orders"][0].clone();
    let orders = (0..count)
        .map(|i| {
            let mut o = first.clone();
            o["reference"] = serde_json::json!(format!("ORD-{i:05}"));
            o["trackingNumber"] = serde_json::json!(format!("JD{i:010}"));
            o
        })
        .collect();
    body["orders"] = serde_json::Value::Array(orders);
    body
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_fixture_file_is_listed_once() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures");
        let mut files: Vec<String> = std::fs::read_dir(dir)
            .expect("fixtures dir")
            .filter_map(|e| e.ok())
            .filter_map(|e| {
                e.file_name()
                    .to_str()?
                    .strip_suffix(".json")
                    .map(str::to_owned)
            })
            .collect();
        files.sort();
        let mut listed: Vec<String> = ALL.iter().map(|f| f.name.to_owned()).collect();
        listed.sort();
        assert_eq!(files, listed);
    }

    #[test]
    #[should_panic(expected = "no fixture")]
    fn a_misspelt_name_fails_loudly() {
        Fixture::named("shipment-1.2-in-transt");
    }
}
