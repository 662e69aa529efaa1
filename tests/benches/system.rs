//! The system benchmark: cold start, warm path, memory and size of the real functions, against
//! a DynamoDB Local of its own on loopback. `cargo bench` runs it in full and writes
//! `benchmarks/system.json`; run without `--bench` (CI's smoke run) it uses tiny counts and the
//! debug binaries, and writes under `target/`.
//!
//! Figures are of this machine: the cold start and memory are measured on the host's build of a
//! function (Lambda runs the arm64 one), spawned fresh against a Runtime API of our own.
//!
//! Each size and cold start stands beside its floor, the bare `lambda_runtime` function of
//! `benchmarks/floor` built the same way, as a ratio of the same run: sizes over the floor's arm64
//! bootstrap, cold starts over the floor's (runs interleaved, medians divided).

use integration_tests::delivery;
use integration_tests::events::{event, shipment, QAPLA_IP};
use integration_tests::local_aws::LocalEndpoints;
use integration_tests::moto::project_root;
use integration_tests::runtime_api::RuntimeApi;
use integration_tests::stack;
use qapla::store::{Recorded, Store, StoreError};
use qapla::table::{Document, ShipmentHistory, ShipmentState};
use qapla::webhook::Webhook;
use qapla::Kind;
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

struct Counts {
    cold: usize,
    warm: usize,
    rss: usize,
}

/// A store that times the store it wraps, so the answer's time splits into store and the rest.
struct Timed<S> {
    inner: S,
    last: Mutex<Duration>,
}

impl<S: Store> Store for Timed<S> {
    async fn record_shipment(
        &self,
        s: &ShipmentState,
        h: &ShipmentHistory,
    ) -> Result<Recorded, StoreError> {
        let start = Instant::now();
        let r = self.inner.record_shipment(s, h).await;
        *self.last.lock().unwrap_or_else(|e| e.into_inner()) = start.elapsed();
        r
    }
    async fn answers(&self) -> bool {
        self.inner.answers().await
    }
    async fn record_documents(&self, d: &[Document]) -> Result<Recorded, StoreError> {
        let start = Instant::now();
        let r = self.inner.record_documents(d).await;
        *self.last.lock().unwrap_or_else(|e| e.into_inner()) = start.elapsed();
        r
    }
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = ((p / 100.0) * (sorted.len() as f64 - 1.0)).round() as usize;
    sorted[rank.min(sorted.len() - 1)]
}

fn sorted(mut v: Vec<f64>) -> Vec<f64> {
    v.sort_by(f64::total_cmp);
    v
}

/// Distinct deliveries: `n` status changes over `n / 10 + 1` shipments.
fn deliveries(prefix: &str, n: usize) -> Vec<String> {
    let statuses = [1u32, 2, 20, 3, 50, 4, 5, 8, 4, 99];
    (0..n)
        .map(|i| {
            let (s, step) = (i / statuses.len(), i % statuses.len());
            let date = format!("2026-06-{:02} {:02}:{:02}:00", 1 + step, 8 + step, s % 60);
            let body =
                shipment(&format!("{prefix}{s:06}"), &date, statuses[step], None).to_string();
            event(Kind::Shipment, &body, QAPLA_IP)
        })
        .collect()
}

fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| project_root().join("target"))
}

fn function_env(local: &LocalEndpoints, table: &str, api: &RuntimeApi) -> Vec<(String, String)> {
    let mut env: Vec<(String, String)> = [
        ("AWS_LAMBDA_RUNTIME_API", api.address()),
        ("AWS_LAMBDA_FUNCTION_NAME", "shipments".into()),
        ("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128".into()),
        ("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST".into()),
        ("AWS_LAMBDA_LOG_GROUP_NAME", "/aws/lambda/shipments".into()),
        ("AWS_LAMBDA_LOG_STREAM_NAME", "bench".into()),
        ("AWS_REGION", stack::REGION.into()),
        ("AWS_ACCESS_KEY_ID", "bench".into()),
        ("AWS_SECRET_ACCESS_KEY", "bench".into()),
        ("AWS_LAMBDA_LOG_LEVEL", "WARN".into()),
        ("TABLE_NAME", table.into()),
        ("QAPLA_CHANNELS", qapla::fixtures::demo_channels()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect();
    env.extend(local.variables());
    env
}

/// The command that runs the function: the binary itself, or under `QAPLA_BENCH_RUNNER` (an
/// emulator such as `qemu-aarch64-static -L /usr/aarch64-linux-gnu`, to run the arm64 bootstrap).
fn function_command(binary: &Path) -> Command {
    match std::env::var("QAPLA_BENCH_RUNNER")
        .ok()
        .filter(|r| !r.trim().is_empty())
    {
        Some(runner) => {
            let mut words = runner.split_whitespace();
            let mut command = Command::new(words.next().unwrap_or_default());
            command.args(words).arg(binary);
            command
        }
        None => Command::new(binary),
    }
}

/// Starts the function with its environment, its output discarded.
fn spawn_function(binary: &Path, env: Vec<(String, String)>) -> std::process::Child {
    function_command(binary)
        .env_clear()
        .envs(env)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", binary.display()))
}

fn answered_ok(answer: &integration_tests::runtime_api::Answer) -> bool {
    !answer.error && answer.body.contains("\"statusCode\":200") && answer.body.contains("OK")
}

/// Spawns each binary fresh for each run, the binaries in turn so that both meet the same machine;
/// times spawn to the end of its init (its first `invocation/next`) and to its first answer (for
/// the functions, the store write included). One list of (init, answer) per binary.
fn cold_starts(
    binaries: &[&Path],
    local: &LocalEndpoints,
    table: &str,
    runs: usize,
) -> Vec<Vec<(f64, f64)>> {
    let mut out = vec![Vec::new(); binaries.len()];
    for e in deliveries("COLD", runs) {
        for (binary, times) in binaries.iter().zip(out.iter_mut()) {
            let mut api = RuntimeApi::start();
            api.invoke(e.clone());
            let start = Instant::now();
            let mut child = spawn_function(binary, function_env(local, table, &api));
            let answer = api
                .answer(Duration::from_secs(60))
                .expect("an answer within 60 s");
            let _ = child.kill();
            let _ = child.wait();
            assert!(answered_ok(&answer), "cold start answer: {}", answer.body);
            let init = api.init_done().unwrap_or(answer.at);
            times.push((
                init.duration_since(start).as_secs_f64() * 1000.0,
                answer.at.duration_since(start).as_secs_f64() * 1000.0,
            ));
        }
    }
    out
}

/// Peak RSS (VmHWM, KiB) of one function process after `n` deliveries.
fn peak_rss(local: &LocalEndpoints, binary: &Path, n: usize) -> u64 {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        stack::create_table_with(&stack::dynamo(local).await, "rss", false).await;
    });
    let mut api = RuntimeApi::start();
    let mut child = spawn_function(binary, function_env(local, "rss", &api));
    for e in deliveries("RSS", n) {
        api.invoke(e);
        let answer = api.answer(Duration::from_secs(60)).expect("an answer");
        assert!(answered_ok(&answer), "{}", answer.body);
    }
    let status =
        std::fs::read_to_string(format!("/proc/{}/status", child.id())).unwrap_or_default();
    let _ = child.kill();
    let _ = child.wait();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

/// Warm deliveries through the real handler in this process.
/// The warm path spreads its deliveries over this many tables (as it always has, so the figures
/// compare with earlier runs).
const WARM_TABLES: usize = 10;

async fn warm_path(local: &LocalEndpoints, n: usize) -> (Vec<f64>, Vec<f64>) {
    let client = stack::dynamo(local).await;
    let mut hooks = Vec::new();
    for i in 0..WARM_TABLES {
        let table = format!("warm-{i}");
        let store = Timed {
            inner: qapla_aws::dynamo::DynamoStore::new(client.clone(), &table),
            last: Mutex::new(Duration::ZERO),
        };
        hooks.push(Webhook::new(
            Kind::Shipment,
            delivery::webhook_config(&table).settings,
            store,
            None::<qapla_aws::s3::S3Archive>,
        ));
    }
    let events = deliveries("WARM", n + 20);
    let (mut total, mut outside) = (Vec::new(), Vec::new());
    for (i, e) in events.iter().enumerate() {
        let hook = &hooks[(i / 10) % WARM_TABLES];
        let start = Instant::now();
        let request = lambda_http::request::from_str(e).expect("event");
        let answer = qapla_aws::lambda::answer(hook, &request).await;
        let response = qapla_aws::lambda::response(&answer);
        let elapsed = start.elapsed();
        assert_eq!(response.status(), 200, "{}", answer.outcome);
        // The first deliveries warm the connection pool and caches.
        if i >= 20 {
            let store = *hook.store.last.lock().unwrap_or_else(|e| e.into_inner());
            total.push(elapsed.as_secs_f64() * 1000.0);
            outside.push(elapsed.saturating_sub(store).as_secs_f64() * 1000.0);
        }
    }
    (sorted(total), sorted(outside))
}

fn zip_size(file: &Path) -> Option<u64> {
    let out = std::env::temp_dir().join(format!("qapla-bench-{}.zip", std::process::id()));
    let status = Command::new("python3")
        .args(["-c", "import sys, zipfile\nwith zipfile.ZipFile(sys.argv[2], 'w', zipfile.ZIP_DEFLATED, compresslevel=9) as z: z.write(sys.argv[1], 'bootstrap')"])
        .arg(file)
        .arg(&out)
        .status()
        .ok()?;
    let size = status
        .success()
        .then(|| std::fs::metadata(&out).ok().map(|m| m.len()))
        .flatten();
    let _ = std::fs::remove_file(&out);
    size
}

/// A core case as `cargo bench --workspace --bench core` left it: its median and that of its
/// reference line, serde_json's `Value` of the same bytes (µs).
struct CoreCase {
    name: String,
    ours: f64,
    floor: Option<f64>,
    /// Of the case to its reference line, the medians'.
    ratio: Option<f64>,
}

/// The criterion medians of the core benches, if they ran: one group per case, with the case
/// (`parse+validate+map`) and its reference line (`serde_json::Value`).
fn core_figures() -> Vec<CoreCase> {
    let read = |p: PathBuf| -> Option<Value> {
        serde_json::from_str(&std::fs::read_to_string(p).ok()?).ok()
    };
    let dirs = |d: PathBuf| {
        std::fs::read_dir(d)
            .into_iter()
            .flatten()
            .flatten()
            .map(|e| e.path())
    };
    let mut medians = std::collections::BTreeMap::<String, (Option<f64>, Option<f64>)>::new();
    for function in dirs(target_dir().join("criterion")).flat_map(|g| dirs(g).collect::<Vec<_>>()) {
        let new = function.join("new");
        let (Some(id), Some(estimates)) = (
            read(new.join("benchmark.json")),
            read(new.join("estimates.json")),
        ) else {
            continue;
        };
        let (Some(group), Some(us)) = (
            id["group_id"].as_str(),
            estimates["median"]["point_estimate"]
                .as_f64()
                .map(|ns| ns / 1000.0),
        ) else {
            continue;
        };
        let entry = medians.entry(group.to_owned()).or_default();
        match id["function_id"].as_str() {
            Some("parse+validate+map") => entry.0 = Some(us),
            Some("serde_json::Value") => entry.1 = Some(us),
            _ => {}
        }
    }
    medians
        .into_iter()
        .filter_map(|(name, (ours, floor))| {
            Some(CoreCase {
                ratio: Some(ours? / floor?),
                name,
                ours: ours?,
                floor,
            })
        })
        .collect()
}

fn ratio(a: f64, b: f64) -> String {
    format!("{:.2}×", a / b)
}

fn main() {
    let full = std::env::args().any(|a| a == "--bench");
    let counts = if full {
        Counts {
            cold: 15,
            warm: 1000,
            rss: 10_000,
        }
    } else {
        Counts {
            cold: 2,
            warm: 20,
            rss: 30,
        }
    };
    let profile = if full { "release" } else { "debug" };
    let binary = std::env::var_os("QAPLA_BENCH_BINARY")
        .map(PathBuf::from)
        .unwrap_or_else(|| target_dir().join(profile).join("shipments"));
    assert!(
        binary.exists(),
        "{} is missing: build it first (make bench does: cargo build --release -p shipments -p floor)",
        binary.display()
    );
    // The floor's build of the same kind: QAPLA_BENCH_FLOOR names one for a QAPLA_BENCH_BINARY
    // (none for the deployable bootstrap of make arm64-smoke, which has no floor beside it).
    let floor = match (
        std::env::var_os("QAPLA_BENCH_FLOOR"),
        std::env::var_os("QAPLA_BENCH_BINARY"),
    ) {
        (Some(f), _) => Some(PathBuf::from(f)),
        (None, Some(_)) => None,
        (None, None) => Some(target_dir().join(profile).join("floor")),
    };
    if let Some(f) = &floor {
        assert!(
            f.exists(),
            "{} is missing: build it first (make bench does: cargo build --release -p shipments -p floor)",
            f.display()
        );
    }
    let local = integration_tests::local_aws::shared().endpoints();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    // A table per measurement, so one measurement's items never meet the next's.
    runtime.block_on(async {
        let client = stack::dynamo(&local).await;
        for i in 0..WARM_TABLES {
            stack::create_table_with(&client, &format!("warm-{i}"), false).await;
        }
        stack::create_table_with(&client, "cold", false).await;
    });

    let mode = if full { "full" } else { "smoke" };
    eprintln!(
        "system bench ({mode}): warm path, {} deliveries",
        counts.warm
    );
    let (total, outside) = runtime.block_on(warm_path(&local, counts.warm));
    let mut binaries = vec![binary.as_path()];
    binaries.extend(floor.as_deref());
    eprintln!("cold start, {} runs of {binaries:?}", counts.cold);
    let runs = cold_starts(&binaries, &local, "cold", counts.cold);
    let medians = |runs: &[(f64, f64)]| {
        let init = sorted(runs.iter().map(|r| r.0).collect());
        let answer = sorted(runs.iter().map(|r| r.1).collect());
        (init, answer)
    };
    let (init, cold) = medians(&runs[0]);
    let floor_cold = runs.get(1).map(|r| medians(r));
    eprintln!("peak RSS after {} deliveries", counts.rss);
    let rss_kib = peak_rss(&local, &binary, counts.rss);

    let bootstrap = |f: &str| {
        let bootstrap = target_dir().join("lambda").join(f).join("bootstrap");
        let size = std::fs::metadata(&bootstrap).ok().map(|m| m.len());
        let zip = size.and_then(|_| zip_size(&bootstrap));
        (size, zip)
    };
    let sizes: Vec<_> = [
        "shipments",
        "returns",
        "orders",
        "notifier",
        "stuck",
        "reconciler",
    ]
    .into_iter()
    .map(|f| (f, bootstrap(f)))
    .collect();
    let floor_size = bootstrap("floor");
    let core = core_figures();

    let mib = |b: u64| format!("{:.2} MiB", b as f64 / (1024.0 * 1024.0));
    println!(
        "\nqapla-webhooks system benchmark ({})",
        if full {
            "full"
        } else {
            "smoke: tiny counts, debug build"
        }
    );
    println!(
        "{:<52} {:>11} {:>11} {:>7} {:>9}",
        "figure", "value", "floor", "ratio", "aim"
    );
    let row =
        |name: &str, value: String, floor: Option<String>, ratio: Option<String>, aim: &str| {
            let (floor, ratio) = (floor.unwrap_or_default(), ratio.unwrap_or_default());
            println!("{name:<52} {value:>11} {floor:>11} {ratio:>7} {aim:>9}")
        };
    for c in &core {
        row(
            &format!("core parse+validate+map: {}", c.name),
            format!("{:.2} µs", c.ours),
            c.floor.map(|f| format!("{f:.2} µs")),
            c.ratio.map(|r| format!("{r:.2}×")),
            "",
        );
    }
    let median_row = |name: &str, ours: &[f64], floor: Option<&Vec<f64>>, aim: &str| {
        let ours = percentile(ours, 50.0);
        let floor = floor.map(|f| percentile(f, 50.0));
        row(
            name,
            format!("{ours:.1} ms"),
            floor.map(|f| format!("{f:.1} ms")),
            floor.map(|f| ratio(ours, f)),
            aim,
        );
    };
    median_row(
        &format!("cold start to end of init, median of {}", init.len()),
        &init,
        floor_cold.as_ref().map(|f| &f.0),
        "",
    );
    median_row(
        &format!("cold start to first answer, median of {}", cold.len()),
        &cold,
        floor_cold.as_ref().map(|f| &f.1),
        "≤ 30 ms",
    );
    row(
        &format!(
            "warm answer p50 ({} deliveries, DynamoDB Local)",
            total.len()
        ),
        format!("{:.3} ms", percentile(&total, 50.0)),
        None,
        None,
        "",
    );
    row(
        "warm answer p99",
        format!("{:.3} ms", percentile(&total, 99.0)),
        None,
        None,
        "",
    );
    row(
        "warm, outside the store call, p50",
        format!("{:.3} ms", percentile(&outside, 50.0)),
        None,
        None,
        "",
    );
    row(
        "warm, outside the store call, p99",
        format!("{:.3} ms", percentile(&outside, 99.0)),
        None,
        None,
        "≤ 0.2 ms",
    );
    row(
        &format!("peak RSS (VmHWM) after {} deliveries", counts.rss),
        format!("{:.1} MiB", rss_kib as f64 / 1024.0),
        None,
        None,
        "≤ 20 MB",
    );
    for (f, (size, zip)) in &sizes {
        match (size, zip) {
            (Some(s), Some(z)) => {
                row(
                    &format!("arm64 bootstrap: {f}"),
                    mib(*s),
                    floor_size.0.map(mib),
                    floor_size.0.map(|b| ratio(*s as f64, b as f64)),
                    "≤ 2.5×",
                );
                row(
                    &format!("arm64 bootstrap zipped: {f}"),
                    mib(*z),
                    floor_size.1.map(mib),
                    floor_size.1.map(|b| ratio(*z as f64, b as f64)),
                    "",
                );
            }
            _ => row(
                &format!("arm64 bootstrap: {f}"),
                "not built".into(),
                None,
                None,
                "make build",
            ),
        }
    }
    if floor_size.0.is_none() {
        row(
            "arm64 bootstrap: floor",
            "not built".into(),
            None,
            None,
            "make bench",
        );
    }

    let cold_json = |init: &[f64], cold: &[f64]| {
        json!({"runs": cold.len(), "init_median": percentile(init, 50.0),
               "first_answer_median": percentile(cold, 50.0), "min": cold.first(), "max": cold.last()})
    };
    let report = json!({
        "mode": if full { "full" } else { "smoke" },
        "binary": binary.strip_prefix(project_root()).unwrap_or(&binary).display().to_string(),
        "runner": std::env::var("QAPLA_BENCH_RUNNER").unwrap_or_default(),
        "cores": std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0),
        "core_us": core.iter().map(|c| json!({"bench": c.name, "median_us": c.ours,
            "floor_median_us": c.floor, "ratio": c.ratio})).collect::<Vec<_>>(),
        "cold_start_ms": cold_json(&init, &cold),
        "floor_cold_start_ms": floor_cold.as_ref().map(|(i, c)| cold_json(i, c)),
        "warm_ms": {"deliveries": total.len(), "p50": percentile(&total, 50.0), "p99": percentile(&total, 99.0),
                     "outside_store_p50": percentile(&outside, 50.0), "outside_store_p99": percentile(&outside, 99.0)},
        "peak_rss_kib": {"deliveries": counts.rss, "vmhwm": rss_kib},
        "bootstrap_bytes": sizes.iter().map(|(f, (s, z))| json!({"function": f, "bootstrap": s, "zip": z,
            "ratio_to_floor": s.zip(floor_size.0).map(|(s, b)| s as f64 / b as f64)})).collect::<Vec<_>>(),
        "floor_bootstrap_bytes": {"bootstrap": floor_size.0, "zip": floor_size.1},
    });
    let out = std::env::var_os("QAPLA_BENCH_OUT")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            if full {
                project_root().join("benchmarks").join("system.json")
            } else {
                target_dir().join("bench-smoke.json")
            }
        });
    if let Some(dir) = out.parent() {
        let _ = std::fs::create_dir_all(dir);
    }
    std::fs::write(
        &out,
        serde_json::to_string_pretty(&report).unwrap_or_default() + "\n",
    )
    .unwrap_or_else(|e| panic!("cannot write {}: {e}", out.display()));
    println!("\nwritten to {}", out.display());
}
