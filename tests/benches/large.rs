//! Recording the largest deliveries: a 1.3 shipment of about 900 KB (rows that compress, kept
//! gzipped in the item; rows that do not, kept in the archive bucket), 250 orders in one body,
//! and 50 orders whose 100 items fill one transaction near DynamoDB's 4 MB, through the real
//! handler against DynamoDB Local and moto's S3. For each: the time outside the store call, the
//! store and archive calls (timed apart: what a transaction's time bound must allow for), and the
//! peak of heap memory one answer takes above what was live before it (counted by this bench's
//! allocator, store and archive calls included). `cargo bench` runs 10 of each; without
//! `--bench` (the smoke run) 2.

use integration_tests::archive::{create_bucket, s3};
use integration_tests::delivery;
use integration_tests::events::{event, QAPLA_IP};
use integration_tests::local_aws::LocalEndpoints;
use integration_tests::stack;
use peak_alloc::PeakAlloc;
use qapla::store::{Archive, Listed, Recorded, Store, StoreError};
use qapla::table::{Document, ShipmentHistory, ShipmentState};
use qapla::webhook::Webhook;
use qapla::Kind;
use qapla_aws::dynamo::DynamoStore;
use qapla_aws::s3::S3Archive;
use serde_json::{json, Value};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The system allocator, counting the bytes live and their high-water mark, so one answer's
/// memory is measured exactly: the process's resident set cannot show it, since the allocator
/// reuses pages it already holds.
#[global_allocator]
static ALLOCATOR: PeakAlloc = PeakAlloc;

/// Starts a measure: the high-water mark set to what is live now, which is returned.
fn reset_peak() -> usize {
    ALLOCATOR.reset_peak_usage();
    ALLOCATOR.current_usage()
}

/// A store or an archive that times the one it wraps, adding to a total the pair shares.
struct Timed<S> {
    inner: S,
    spent: Arc<Mutex<Duration>>,
}

impl<S> Timed<S> {
    fn add(&self, d: Duration) {
        *self.spent.lock().unwrap_or_else(|e| e.into_inner()) += d;
    }
    fn take(&self) -> Duration {
        std::mem::take(&mut *self.spent.lock().unwrap_or_else(|e| e.into_inner()))
    }
}

impl<S: Store> Store for Timed<S> {
    async fn record_shipment(
        &self,
        s: &ShipmentState,
        h: &ShipmentHistory,
    ) -> Result<Recorded, StoreError> {
        let start = Instant::now();
        let r = self.inner.record_shipment(s, h).await;
        self.add(start.elapsed());
        r
    }
    async fn answers(&self) -> bool {
        self.inner.answers().await
    }
    async fn record_documents(&self, d: &[Document]) -> Result<Recorded, StoreError> {
        let start = Instant::now();
        let r = self.inner.record_documents(d).await;
        self.add(start.elapsed());
        r
    }
}

impl<A: Archive> Archive for Timed<A> {
    async fn put(&self, key: &str, bytes: Vec<u8>) -> Result<(), StoreError> {
        let start = Instant::now();
        let r = self.inner.put(key, bytes).await;
        self.add(start.elapsed());
        r
    }
    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        self.inner.get(key).await
    }
    async fn list(&self, prefix: &str, limit: usize) -> Result<Vec<Listed>, StoreError> {
        self.inner.list(prefix, limit).await
    }
    async fn delete(&self, key: &str) -> Result<(), StoreError> {
        self.inner.delete(key).await
    }
}

struct Figures {
    name: &'static str,
    bytes: usize,
    outside_ms: Vec<f64>,
    store_ms: Vec<f64>,
    peak_mib: Vec<f64>,
}

/// Hex digits of running hashes: text gzip halves at best, as free text of many customers would.
fn noise(bytes: usize, seed: usize) -> String {
    let mut out = String::new();
    let mut n = seed as u64 * 1_000_003;
    while out.len() < bytes {
        out.push_str(qapla::identity::EventId::of_content(&json!(n)).as_str());
        n += 1;
    }
    out.truncate(bytes);
    out
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied().unwrap_or(f64::NAN)
}

/// `n` distinct bodies of one kind (the first warms the path and is not counted).
fn bodies(name: &str, n: usize) -> Vec<String> {
    (0..=n)
        .map(|i| {
            let mut body = match name {
                "orders" => qapla::fixtures::many_orders(250),
                // 50 orders whose notes make their 100 items (each order's version and current
                // item) one transaction near DynamoDB's 4 MB.
                "orders-4mb" => {
                    let mut body = qapla::fixtures::many_orders(50);
                    for (j, o) in body["orders"]
                        .as_array_mut()
                        .into_iter()
                        .flatten()
                        .enumerate()
                    {
                        o["notes"] = json!(noise(60 * 1024, i * 100 + j));
                    }
                    body
                }
                "varied" => qapla::fixtures::large_shipment(900 * 1024, true),
                _ => qapla::fixtures::large_shipment(900 * 1024, false),
            };
            match name {
                "orders" | "orders-4mb" => {
                    for o in body["orders"].as_array_mut().into_iter().flatten() {
                        let r = o["reference"].as_str().unwrap_or_default().to_owned();
                        o["reference"] = json!(format!("{r}-{i}"));
                    }
                }
                _ => body["trackingNumber"] = json!(format!("JDLARGE{i:05}")),
            }
            body.to_string()
        })
        .collect()
}

async fn measure(local: &LocalEndpoints, name: &'static str, kind: Kind, n: usize) -> Figures {
    let bodies = bodies(name, n);
    let bytes = bodies[0].len();
    let events: Vec<String> = bodies.iter().map(|b| event(kind, b, QAPLA_IP)).collect();
    let mut figures = Figures {
        name,
        bytes,
        outside_ms: Vec::new(),
        store_ms: Vec::new(),
        peak_mib: Vec::new(),
    };
    for (i, e) in events.iter().enumerate() {
        // A table and bucket of its own for each delivery, so each is stored as new; removed
        // when the delivery is measured.
        let table = stack::unique_table(&format!("large-{name}-{i}"));
        let client = stack::dynamo(local).await;
        stack::create_table_with(&client, &table, false).await;
        create_bucket(local, &table).await;
        let spent = Arc::new(Mutex::new(Duration::ZERO));
        let store = Timed {
            inner: DynamoStore::new(client, &table),
            spent: spent.clone(),
        };
        let archive = Timed {
            inner: S3Archive::new(s3(local).await, &table),
            spent,
        };
        let mut settings = delivery::webhook_config(&table).settings;
        // Above the default 1 MiB for the body whose items fill one transaction.
        settings.max_body_bytes = 8 * 1024 * 1024;
        let hook = Webhook::new(kind, settings, store, archive);
        let request = lambda_http::request::from_str(e).expect("event");
        hook.store.take();
        let before = reset_peak();
        let start = Instant::now();
        let answer = qapla_aws::lambda::answer(&hook, &request).await;
        let elapsed = start.elapsed();
        let peak = ALLOCATOR.peak_usage().saturating_sub(before);
        assert_eq!(answer.outcome, "stored", "{name}");
        if i > 0 {
            let store = hook.store.take();
            let outside = elapsed.saturating_sub(store);
            figures.outside_ms.push(outside.as_secs_f64() * 1000.0);
            figures.store_ms.push(store.as_secs_f64() * 1000.0);
            figures.peak_mib.push(peak as f64 / (1024.0 * 1024.0));
        }
    }
    figures
}

fn main() {
    let full = std::env::args().any(|a| a == "--bench");
    let n = if full { 10 } else { 2 };
    let local = integration_tests::local_aws::shared().endpoints();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let all: Vec<Figures> = runtime.block_on(async {
        let mut all = Vec::new();
        for (name, kind) in [
            ("compressible", Kind::Shipment),
            ("varied", Kind::Shipment),
            ("orders", Kind::Order),
            ("orders-4mb", Kind::Order),
        ] {
            eprintln!("large bodies: {name}, {n} deliveries");
            all.push(measure(&local, name, kind, n).await);
        }
        all
    });
    println!(
        "\nrecording large bodies ({}), median of {n}",
        if full { "full" } else { "smoke: debug build" }
    );
    println!(
        "{:<44} {:>10} {:>16} {:>14} {:>14}",
        "body", "bytes", "outside store", "store", "peak heap"
    );
    let label = |name: &str| match name {
        "compressible" => "1.3 shipment, rows that compress (item)",
        "varied" => "1.3 shipment, free-text rows (bucket)",
        "orders" => "orders, 250 in one body",
        _ => "orders, 50 filling one transaction",
    };
    let mut report = Vec::new();
    for f in &all {
        let (outside, store, peak) = (
            median(f.outside_ms.clone()),
            median(f.store_ms.clone()),
            median(f.peak_mib.clone()),
        );
        println!(
            "{:<44} {:>10} {:>13.2} ms {:>11.2} ms {:>10.1} MiB",
            label(f.name),
            f.bytes,
            outside,
            store,
            peak
        );
        report.push(
            json!({"body": f.name, "bytes": f.bytes, "outside_store_ms_median": outside,
            "store_ms_median": store, "peak_heap_mib_median": peak,
            "deliveries": f.outside_ms.len()}),
        );
    }
    println!("{}", Value::Array(report));
}
