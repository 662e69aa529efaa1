//! Replays the sample deliveries through the real pipeline over the in-memory store and prints
//! each answer and what the store holds. No AWS, no network: the quickest look at the core.

use qapla::config::{self, WebhookConfig};
use qapla::fixtures;
use qapla::pipeline::{Request, Webhook};
use qapla::store::MemoryStore;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let channels = fixtures::demo_channels();
    let cfg = WebhookConfig::from_lookup(|k| match k {
        config::TABLE_NAME => Some("memory".into()),
        config::QAPLA_CHANNELS => Some(channels.clone()),
        _ => None,
    })?;
    let runtime = tokio::runtime::Builder::new_current_thread().build()?;
    let store = std::sync::Arc::new(MemoryStore::new());
    for (name, body) in fixtures::ALL {
        let hook = Webhook::new(fixtures::kind_of(name), cfg.clone(), store.clone());
        let request = Request {
            method: "POST",
            source: "34.96.89.1".parse().ok(),
            body: body.as_bytes(),
        };
        let answer = runtime.block_on(hook.handle(request));
        println!(
            "{name:32} {} {} ({})",
            answer.status,
            answer.body(),
            answer.outcome
        );
    }
    println!("\nstore:");
    for ((pk, sk), item) in store.items() {
        let status = item
            .get("statusName")
            .and_then(|v| v.as_str())
            .unwrap_or("");
        println!("  {pk} | {sk} {status}");
    }
    Ok(())
}
