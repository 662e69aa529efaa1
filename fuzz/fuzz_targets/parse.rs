//! Any bytes through the whole pure path of a delivery: strict JSON, telling the webhook apart,
//! taking the key out, validating and mapping. It must never panic, and whatever it accepts must
//! keep its id when written back out and read again.
#![no_main]

use libfuzzer_sys::fuzz_target;
use qapla::payload::{self, Delivery};

fn ids(d: &Delivery) -> Vec<String> {
    match d {
        Delivery::Shipment(ev) => vec![ev.id.to_string()],
        Delivery::Returns(r) => r.returns.iter().map(|x| x.event_id.to_string()).collect(),
        Delivery::Orders(o) => o.orders.iter().map(|x| x.event_id.to_string()).collect(),
    }
}

fuzz_target!(|data: &[u8]| {
    let tz = chrono_tz::Europe::Rome;
    let Ok(envelope) = payload::read(data) else { return };
    let body = serde_json::Value::Object(envelope.body()).to_string();
    let Ok(delivery) = envelope.validate(tz) else { return };
    // Re-reading the body (key already out) must give the same ids.
    let again = payload::read(body.as_bytes()).expect("a body we read reads again");
    let again = again.validate(tz).expect("a body we accepted validates again");
    assert_eq!(ids(&delivery), ids(&again));
});
