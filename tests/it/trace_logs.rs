//! At `TRACE`, the functions' logs hold neither a channel key nor a customer's personal data: the
//! real binaries' wiring (`tests/bin/function.rs`) runs every fixture and sample event through a
//! Runtime API of our own against moto, and everything it prints is searched.

use crate::events::{event, sample_events, QAPLA_IP};
use crate::notifier_rig::Rig;
use crate::stack;
use integration_tests::runtime_api::RuntimeApi;
use qapla::fixtures;
use qapla::Kind;
use std::process::{Command, Stdio};
use std::time::Duration;

/// What must never be logged: the demo key and the fixtures' customers.
const SECRETS: [&str; 6] = [
    fixtures::DEMO_KEY,
    "Mario Rossi",
    "Anna Verdi",
    "mario.rossi@example.com",
    "333 1234567",
    "347 7654321",
];

/// Runs one function binary over `events` at `TRACE`, and returns every answer and all it printed.
fn run(function: &str, rig: &Rig, events: &[String]) -> (Vec<String>, String) {
    let mut api = RuntimeApi::start();
    let log = std::env::temp_dir().join(format!("{}-{function}.log", rig.table));
    let out = std::fs::File::create(&log).expect("log file");
    let err = out.try_clone().expect("log file");
    let mut child = Command::new(env!("CARGO_BIN_EXE_function"))
        .arg(function)
        .env_clear()
        .envs([
            ("AWS_LAMBDA_RUNTIME_API", api.address()),
            ("AWS_LAMBDA_FUNCTION_NAME", function.to_owned()),
            ("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128".into()),
            ("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST".into()),
            (
                "AWS_LAMBDA_LOG_GROUP_NAME",
                format!("/aws/lambda/{function}"),
            ),
            ("AWS_LAMBDA_LOG_STREAM_NAME", "trace".into()),
            ("AWS_LAMBDA_LOG_LEVEL", "TRACE".into()),
            ("AWS_REGION", stack::REGION.into()),
            ("AWS_ACCESS_KEY_ID", "local".into()),
            ("AWS_SECRET_ACCESS_KEY", "local".into()),
            ("TABLE_NAME", rig.table.to_string()),
            ("QAPLA_CHANNELS", fixtures::demo_channels()),
            ("TOPIC_ARN", rig.subscribers.topic_arn.clone()),
        ])
        .envs(rig.endpoints.variables())
        .stdout(Stdio::from(out))
        .stderr(Stdio::from(err))
        .spawn()
        .expect("run the function binary");
    let mut answers = Vec::new();
    for e in events {
        api.invoke(e.clone());
        let answer = api.answer(Duration::from_secs(60));
        answers.push(answer.map_or_else(|| "no answer".to_owned(), |a| a.body));
    }
    let _ = child.kill();
    let _ = child.wait();
    let printed = std::fs::read_to_string(&log).expect("the function's output");
    let _ = std::fs::remove_file(&log);
    (answers, printed)
}

fn assert_clean(function: &str, printed: &str) {
    for secret in SECRETS {
        assert!(
            !printed.contains(secret),
            "{function} logged {secret:?} at TRACE:\n{}",
            printed
                .lines()
                .filter(|l| l.contains(secret))
                .take(3)
                .collect::<Vec<_>>()
                .join("\n")
        );
    }
    // The output is the verbose one: the capped crates still speak at DEBUG.
    assert!(
        printed.contains(r#""level":"DEBUG""#),
        "{function}: no DEBUG line, the level did not apply:\n{printed}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn at_trace_no_key_and_no_customer_data_is_logged() {
    let mut rig = Rig::new().await;
    for (function, kind) in [
        ("shipments", Kind::Shipment),
        ("returns", Kind::Return),
        ("orders", Kind::Order),
    ] {
        let mut events: Vec<String> = fixtures::ALL
            .iter()
            .filter(|f| f.kind == kind)
            .map(|f| event(kind, f.body, QAPLA_IP))
            .collect();
        events.extend(
            sample_events()
                .into_iter()
                .filter(|e| e.function == kind)
                .map(|e| e.json),
        );
        let (answers, printed) = tokio::task::block_in_place(|| run(function, &rig, &events));
        assert_eq!(answers.len(), events.len());
        assert!(
            answers.iter().any(|a| a.contains(r#"\"result\":\"OK\""#)),
            "{function}: {answers:?}"
        );
        assert!(
            printed.contains(r#""outcome":"stored""#),
            "{function}: {printed}"
        );
        assert_clean(function, &printed);
    }

    let mut stream = rig.stream_event().await;
    assert!(
        serde_json::to_string(&stream)
            .expect("stream event")
            .contains("Mario Rossi"),
        "the stream carries the customers"
    );
    // A slow machine may leave records to the stream's retry (the invocation's deadline, or a
    // claim call past its bound): the retry is run as the stream would, from those records, and
    // every run's output is searched.
    let mut published = false;
    for attempt in 1..=3 {
        let json = serde_json::to_string(&stream).expect("stream event");
        let (answers, printed) = tokio::task::block_in_place(|| run("notifier", &rig, &[json]));
        assert_eq!(answers.len(), 1);
        assert_clean("notifier", &printed);
        published |= printed.contains(r#""message":"notification""#)
            && printed.contains(r#""outcome":"published""#);
        let answer: serde_json::Value = serde_json::from_str(&answers[0])
            .unwrap_or_else(|e| panic!("notifier answer {:?}: {e}", answers[0]));
        let retry: Vec<&str> = answer["batchItemFailures"]
            .as_array()
            .unwrap_or_else(|| panic!("notifier answer {answer}"))
            .iter()
            .filter_map(|f| f["itemIdentifier"].as_str())
            .collect();
        if retry.is_empty() {
            assert!(published, "nothing published:\n{printed}");
            return;
        }
        let batch: Vec<&str> = printed
            .lines()
            .filter(|l| l.contains(r#""message":"batch""#))
            .collect();
        assert!(attempt < 3, "still retried after {attempt} runs: {batch:?}");
        eprintln!(
            "notifier run {attempt} left {} records to the retry: {batch:?}",
            retry.len()
        );
        stream.records.retain(|r| {
            r.change
                .sequence_number
                .as_deref()
                .is_some_and(|n| retry.contains(&n))
        });
        assert_eq!(stream.records.len(), retry.len(), "the retried records");
    }
}
