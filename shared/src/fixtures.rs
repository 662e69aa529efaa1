//! Sample deliveries, one per webhook shape, shared by the unit tests, the benchmarks, the
//! integration tests and the sample events. Their key is the demo channel's
//! ([`DEMO_KEY`], channel [`DEMO_CHANNEL`]).

use crate::payload::Kind;

/// The demo channel's API key, used by the fixtures, the sample events and local runs only.
pub const DEMO_KEY: &str = "demo-key-shop-it";
/// The demo channel's name.
pub const DEMO_CHANNEL: &str = "shop-it";

macro_rules! fixture {
    ($name:literal) => {
        ($name, include_str!(concat!("../fixtures/", $name, ".json")))
    };
}

/// Every fixture as `(name, body)`.
pub const ALL: [(&str, &str); 8] = [
    fixture!("shipment-1.2-in-transit"),
    fixture!("shipment-1.2-exception-stock"),
    fixture!("shipment-1.2-failed-attempt"),
    fixture!("shipment-1.2-unknown-status"),
    fixture!("shipment-1.3-delivered"),
    fixture!("returns-wrapped"),
    fixture!("returns-flat"),
    fixture!("orders"),
];

/// A fixture's body by name.
pub fn get(name: &str) -> Option<&'static str> {
    ALL.iter().find(|(n, _)| *n == name).map(|(_, body)| *body)
}

/// The webhook a fixture belongs to, told by its name.
pub fn kind_of(name: &str) -> Kind {
    if name.starts_with("returns") {
        Kind::Return
    } else if name.starts_with("orders") {
        Kind::Order
    } else {
        Kind::Shipment
    }
}

/// The `QAPLA_CHANNELS` entry of the demo channel.
pub fn demo_channels() -> String {
    crate::auth::Channel::entry(
        DEMO_CHANNEL,
        &crate::auth::ApiKey::new(DEMO_KEY),
        crate::auth::OrderTrigger::Created,
    )
}
