//! Parse + validate + map, per webhook kind: the whole pure core of a delivery, no I/O; each case
//! beside its floor, `serde_json::from_slice::<serde_json::Value>` of the same bytes, in one
//! criterion group. A full run (`cargo bench`) ends with the ratio of each case to its floor.

use criterion::{Criterion, Throughput};
use qapla::fixtures;
use qapla::payload;
use serde_json::{json, Value};
use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

/// The criterion function ids of a case and of its floor; the system bench reads them back.
const OURS: &str = "parse+validate+map";
const FLOOR: &str = "serde_json::Value";

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

fn cases() -> Vec<(&'static str, String)> {
    vec![
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
    ]
}

fn bench(c: &mut Criterion, cases: &[(&str, String)]) {
    let tz = qapla::dates::zone("Europe/Rome").expect("compiled-in zone");
    for (name, body) in cases {
        let mut group = c.benchmark_group(*name);
        group.throughput(Throughput::Bytes(body.len() as u64));
        group.bench_function(OURS, |b| {
            b.iter(|| {
                let env = payload::read(black_box(body.as_bytes())).expect("fixture reads");
                env.validate(tz).expect("fixture validates")
            })
        });
        group.bench_function(FLOOR, |b| {
            b.iter(|| {
                serde_json::from_slice::<Value>(black_box(body.as_bytes()))
                    .expect("fixture is JSON")
            })
        });
        group.finish();
    }
}

/// Where criterion writes: the same place the system bench reads.
fn criterion_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../target"))
        .join("criterion")
}

/// The median (ns) criterion estimated for `function` in `group`, if written since `since`.
/// Criterion names its directories after the ids with some characters replaced, so the ids are
/// read back from each `benchmark.json`.
fn median_ns(dir: &Path, group: &str, function: &str, since: SystemTime) -> Option<f64> {
    let read =
        |p: PathBuf| -> Option<Value> { serde_json::from_slice(&std::fs::read(p).ok()?).ok() };
    let dirs = |d: &Path| {
        std::fs::read_dir(d)
            .into_iter()
            .flatten()
            .flatten()
            .map(|e| e.path())
    };
    dirs(dir)
        .flat_map(|g| dirs(&g).collect::<Vec<_>>())
        .find_map(|f| {
            let new = f.join("new");
            let id = read(new.join("benchmark.json"))?;
            if id["group_id"] != group || id["function_id"] != function {
                return None;
            }
            let estimates = new.join("estimates.json");
            let fresh = std::fs::metadata(&estimates).ok()?.modified().ok()? >= since;
            fresh.then(|| read(estimates)?["median"]["point_estimate"].as_f64())?
        })
}

fn main() {
    let full = std::env::args().any(|a| a == "--bench");
    let started = SystemTime::now();
    let dir = criterion_dir();
    let cases = cases();
    let mut c = Criterion::default()
        .output_directory(&dir)
        .configure_from_args();
    bench(&mut c, &cases);
    c.final_summary();
    if !full {
        println!("core: smoke run, each case and its floor ran once; no ratios");
        return;
    }
    // Criterion measures a case, then its floor: on a shared machine whose speed drifts between
    // the two, the ratio of its medians moved by half between runs. The ratio is therefore
    // measured apart, pairing the two: short batches of each in turn, one ratio per pair.
    println!("\ncore against its floor, serde_json::from_slice::<Value> of the same bytes");
    println!("medians from criterion; ratio = median over {ROUNDS} paired batches of {OURS} time / {FLOOR} time");
    println!(
        "{:<24} {:>12} {:>12} {:>8} {:>15}",
        "case", OURS, FLOOR, "ratio", "middle half"
    );
    let tz = qapla::dates::zone("Europe/Rome").expect("compiled-in zone");
    let mut ratios = Vec::new();
    for (name, body) in &cases {
        let ours = median_ns(&dir, name, OURS, started);
        let floor = median_ns(&dir, name, FLOOR, started);
        let paired = paired_ratio(
            || {
                let env = payload::read(black_box(body.as_bytes())).expect("fixture reads");
                black_box(env.validate(tz).expect("fixture validates"));
            },
            || {
                black_box(
                    serde_json::from_slice::<Value>(black_box(body.as_bytes()))
                        .expect("fixture is JSON"),
                );
            },
        );
        let us = |ns: Option<f64>| ns.map_or("-".to_owned(), |ns| format!("{:.2} µs", ns / 1000.0));
        println!(
            "{name:<24} {:>12} {:>12} {:>7.2}× {:>6.2}–{:.2}×",
            us(ours),
            us(floor),
            paired.median,
            paired.low,
            paired.high
        );
        ratios.push(
            json!({"bench": name, "ratio": paired.median, "p25": paired.low,
            "p75": paired.high, "rounds": ROUNDS}),
        );
    }
    let written = serde_json::to_vec_pretty(&Value::Array(ratios))
        .map_err(std::io::Error::other)
        .and_then(|text| std::fs::write(dir.join(RATIOS), text));
    if let Err(e) = written {
        eprintln!("core: could not write {RATIOS}: {e}");
    }
}

/// Where the paired ratios are written, in criterion's directory; the system bench reads them.
const RATIOS: &str = "core-ratios.json";
/// Pairs of batches per case.
const ROUNDS: usize = 101;

struct Ratio {
    median: f64,
    low: f64,
    high: f64,
}

/// The ratio of `ours` to `floor`: batches of each, in turn (which goes first alternates), each
/// batch long enough (about 2 ms) for the clock; the median and quartiles of the per-pair ratios.
fn paired_ratio(mut ours: impl FnMut(), mut floor: impl FnMut()) -> Ratio {
    let time = |f: &mut dyn FnMut(), n: u32| {
        let start = std::time::Instant::now();
        for _ in 0..n {
            f();
        }
        start.elapsed().as_secs_f64()
    };
    let mut batch = 1u32;
    while time(&mut floor, batch) < 2e-3 && batch < 1 << 20 {
        batch *= 2;
    }
    let mut ratios: Vec<f64> = (0..ROUNDS)
        .map(|round| {
            let (o, f) = if round % 2 == 0 {
                let o = time(&mut ours, batch);
                (o, time(&mut floor, batch))
            } else {
                let f = time(&mut floor, batch);
                (time(&mut ours, batch), f)
            };
            o / f
        })
        .collect();
    ratios.sort_by(f64::total_cmp);
    let at = |q: f64| ratios[((ratios.len() - 1) as f64 * q).round() as usize];
    Ratio {
        median: at(0.5),
        low: at(0.25),
        high: at(0.75),
    }
}
