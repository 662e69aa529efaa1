//! Replays the sample deliveries through the real request path over the in-memory store and
//! prints each answer and what the store holds. No AWS, no network: the quickest look at the core.

use qapla::fixtures;
use qapla::store::{MemoryArchive, MemoryStore};
use qapla::webhook::{Request, Webhook};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let runtime = tokio::runtime::Builder::new_current_thread().build()?;
    let settings = fixtures::demo_config("memory").settings;
    let mut hook = Webhook::new(
        qapla::Kind::Shipment,
        settings,
        MemoryStore::new(),
        MemoryArchive::default(),
    );
    for fixture in fixtures::ALL {
        // One store behind every endpoint, as one table is behind the three functions.
        hook.endpoint = fixture.kind;
        let request = Request {
            method: "POST",
            source: "34.96.89.1".parse().ok(),
            body: fixture.bytes(),
        };
        let answer = runtime.block_on(hook.handle(request));
        println!(
            "{:32} {} {} ({})",
            fixture.name,
            answer.status,
            answer.body(),
            answer.outcome
        );
    }
    println!("\nstore:");
    for ((pk, sk), item) in hook.store.items() {
        let status = item
            .get("statusName")
            .and_then(|v| v.as_str())
            .unwrap_or("");
        println!("  {pk} | {sk} {status}");
    }
    Ok(())
}
