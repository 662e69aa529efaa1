//! Read + validate + map, per sample delivery: the whole pure core of a delivery, no I/O. One
//! case per fixture, and two grown ones (a 1.3 shipment of 20 rows, 50 orders). Beside each,
//! `serde_json::from_slice::<serde_json::Value>` of the same bytes, as a reference line only: the
//! figure that counts is the case's own time, against a warm answer of some milliseconds.

use criterion::{Criterion, Throughput};
use qapla::fixtures;
use qapla::payload;
use serde_json::{json, Value};
use std::hint::black_box;
use std::path::PathBuf;

/// The criterion function ids of a case and of its reference line; the system bench reads them.
const OURS: &str = "parse+validate+map";
const REFERENCE: &str = "serde_json::Value";

fn shipment_1_3_with_rows(rows: usize) -> String {
    let mut body = fixtures::SHIPMENT_DELIVERED_1_3.json();
    let row = body["rows"][0].clone();
    body["rows"] = Value::Array(
        (0..rows)
            .map(|i| {
                let mut r = row.clone();
                r["id"] = json!(i.to_string());
                r["sku"] = json!(format!("SKU-{i:04}"));
                r
            })
            .collect(),
    );
    body.to_string()
}

fn cases() -> Vec<(String, String)> {
    let mut cases: Vec<(String, String)> = fixtures::ALL
        .iter()
        .map(|f| (f.name.to_owned(), f.body.to_owned()))
        .collect();
    cases.push(("shipment 1.3, 20 rows".into(), shipment_1_3_with_rows(20)));
    cases.push(("orders, 50".into(), fixtures::many_orders(50).to_string()));
    cases
}

/// Where criterion writes: the same place the system bench reads.
fn criterion_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../target")))
        .join("criterion")
}

fn main() {
    let tz = qapla::dates::zone("Europe/Rome").expect("compiled-in zone");
    let mut c = Criterion::default()
        .output_directory(&criterion_dir())
        .configure_from_args();
    for (name, body) in cases() {
        let mut group = c.benchmark_group(name);
        group.throughput(Throughput::Bytes(body.len() as u64));
        group.bench_function(OURS, |b| {
            b.iter(|| {
                let env = payload::read(black_box(body.as_bytes())).expect("fixture reads");
                env.validate(tz).expect("fixture validates")
            })
        });
        group.bench_function(REFERENCE, |b| {
            b.iter(|| {
                serde_json::from_slice::<Value>(black_box(body.as_bytes()))
                    .expect("fixture is JSON")
            })
        });
        group.finish();
    }
    c.final_summary();
}
