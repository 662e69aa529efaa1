//! Parse + validate + map, per webhook kind: the whole pure core of a delivery, no I/O.

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use qapla::fixtures;
use qapla::payload;
use serde_json::{json, Value};
use std::hint::black_box;

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

fn orders_with(count: usize) -> String {
    let body = fixtures::ORDERS.json();
    let order = body["orders"][0].clone();
    let orders: Vec<Value> = (0..count)
        .map(|i| {
            let mut o = order.clone();
            o["reference"] = json!(format!("ORD-{i:05}"));
            o["trackingNumber"] = json!(format!("JD{i:010}"));
            o
        })
        .collect();
    json!({"apiKey": fixtures::DEMO_KEY, "orders": orders}).to_string()
}

fn bench(c: &mut Criterion) {
    let tz = qapla::dates::zone("Europe/Rome").expect("compiled-in zone");
    let cases = [
        (
            "shipment 1.2",
            fixtures::SHIPMENT_EXCEPTION_STOCK.body.to_owned(),
        ),
        ("shipment 1.3, 20 rows", shipment_1_3_with_rows(20)),
        (
            "returns (wrapped)",
            fixtures::RETURNS_WRAPPED.body.to_owned(),
        ),
        ("orders, 50", orders_with(50)),
    ];
    let mut group = c.benchmark_group("parse+validate+map");
    for (name, body) in &cases {
        group.throughput(Throughput::Bytes(body.len() as u64));
        group.bench_function(*name, |b| {
            b.iter(|| {
                let env = payload::read(black_box(body.as_bytes())).expect("fixture reads");
                env.validate(tz).expect("fixture validates")
            })
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
