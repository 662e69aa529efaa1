//! `make sam-local`: the local store that `sam local invoke` reaches with the sample events and
//! `events/env.local.json` as committed. moto listens on the port of the file's
//! `LOCAL_ENDPOINT_URL` and DynamoDB Local on that of its `LOCAL_ENDPOINT_URL_DYNAMODB`, on
//! loopback unless `BIND` says otherwise; the table, topic and queues
//! are those of `template.yaml`, under the file's names. It prints the `sam local invoke` line of
//! each sample event, then serves until Ctrl-C or `SAM_LOCAL_MINUTES` (default 30) and prints
//! what the table holds.
//!
//! `--check` (CI; no Docker needed) runs the printed events instead through `cargo lambda invoke`
//! against functions given the file's variables, as SAM gives them, and compares each answer
//! with the one promised under `sam local invoke`.
//!
//! `--docker` (`make sam-local-docker`, which sets up Docker and starts it first) runs the
//! printed lines themselves, under Docker, and compares each answer, and the outcome the
//! function logged, with the one promised.

use crate::functions::{self, Functions};
use crate::{print_table, replay, report, target_dir};
use integration_tests::events::{sample_events, Answer, SampleEvent};
use integration_tests::local_aws::LocalAws;
use integration_tests::moto::project_root;
use integration_tests::sam_local::{
    EnvFile, ENV_FILE, LOCAL_ENDPOINT_URL, LOCAL_ENDPOINT_URL_DYNAMODB,
};
use integration_tests::stack::{self, REGION};
use serde_json::Value;
use std::io::Write;
use std::net::{IpAddr, Ipv4Addr};
use std::process::Command;
use std::time::{Duration, Instant};

/// On Linux the name is not built in: Docker maps it to the host's bridge address when asked.
const ADD_HOST: &str = "--add-host host.docker.internal:host-gateway";

/// What `make sam-local` does once the store is up.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum SamLocal {
    /// Serves the store for the user's own `sam local invoke` lines.
    Serve,
    /// Runs the events through `cargo lambda invoke` instead (no Docker).
    Check,
    /// Runs the printed lines, under Docker.
    Docker,
}

pub async fn prepare(then: SamLocal) -> Result<bool, String> {
    let env = EnvFile::read()?;
    let table = env.shared("TABLE_NAME")?;
    let topic_arn = env.shared("TOPIC_ARN")?;
    let topic = topic_arn.rsplit(':').next().unwrap_or_default().to_owned();
    let (host, port) = env.host_port(LOCAL_ENDPOINT_URL)?;
    let (_, dynamodb_port) = env.host_port(LOCAL_ENDPOINT_URL_DYNAMODB)?;
    let bind = match std::env::var("BIND").ok().filter(|b| !b.is_empty()) {
        Some(b) => b
            .parse::<IpAddr>()
            .map_err(|_| format!("BIND={b} is not an IP address"))?,
        None => IpAddr::V4(Ipv4Addr::LOCALHOST),
    };
    if then == SamLocal::Check {
        functions::build()?;
    }
    let local = LocalAws::start_on(bind, port, dynamodb_port).map_err(|e| {
        format!("{e} (the ports are {LOCAL_ENDPOINT_URL}'s and {LOCAL_ENDPOINT_URL_DYNAMODB}'s in {ENV_FILE}; is another make sam-local running?)")
    })?;
    let sdk = stack::sdk(&local.endpoints()).await;
    let subscribers = stack::create_local_stack(&sdk, &table, &topic).await;
    let bucket = env.shared("BUCKET_NAME")?;
    integration_tests::archive::create_bucket(&local.endpoints(), &bucket).await;
    if subscribers.topic_arn != topic_arn {
        return Err(format!(
            "the local topic is {}, but {ENV_FILE} gives the notifier {topic_arn}",
            subscribers.topic_arn
        ));
    }
    println!(
        "sam-local: DynamoDB Local (DynamoDB, its stream) on {bind}:{dynamodb_port}, moto (SNS, SQS, S3, SSM) on {bind}:{port}; table {table}, bucket {bucket}, topic {topic} and its queues created from template.yaml"
    );
    if !bind.is_loopback() {
        println!(
            "sam-local: WARNING: the local store listens on {bind}, not only loopback: whoever reaches this machine on ports {port} and {dynamodb_port} can read and write it. Use it on a trusted network only."
        );
    }
    let lines = print_commands(&host, port, dynamodb_port, bind);

    match then {
        SamLocal::Check => return run_check(&env, &local, &sdk, &table, &subscribers).await,
        SamLocal::Docker => return run_docker(&lines, &sdk, &table).await,
        SamLocal::Serve => {}
    }
    let minutes: u64 = std::env::var("SAM_LOCAL_MINUTES")
        .ok()
        .and_then(|m| m.parse().ok())
        .unwrap_or(30);
    println!("\nsam-local: serving until Ctrl-C, or for {minutes} minutes (SAM_LOCAL_MINUTES)");
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = tokio::time::sleep(Duration::from_secs(minutes * 60)) => {
            println!("sam-local: time is up");
        }
    }
    println!("\n== the table");
    print_table(&sdk, &table).await;
    Ok(true)
}

/// Prints the `sam local invoke` line of each sample event; each event with its line, as words.
fn print_commands(
    host: &str,
    port: u16,
    dynamodb_port: u16,
    bind: IpAddr,
) -> Vec<(SampleEvent, Vec<String>)> {
    let linux = cfg!(target_os = "linux");
    println!(
        "
== sam local invoke (Docker; after `make build`), from another terminal in the project root
The functions reach this store at http://{host}:{port} ({LOCAL_ENDPOINT_URL} in {ENV_FILE}) and
its DynamoDB at http://{host}:{dynamodb_port} ({LOCAL_ENDPOINT_URL_DYNAMODB})."
    );
    if linux {
        println!(
            "On Linux, {ADD_HOST} (in the lines below) names the Docker bridge's
address, and the store must listen there: `make sam-local BIND=<docker0's address, often 172.17.0.1>`,
or on every interface with `make sam-local BIND=0.0.0.0`. (Docker Desktop routes {host} to
loopback by itself.)"
        );
        if bind.is_loopback() {
            println!(
                "The store listens on loopback only now: a container on Linux cannot reach it."
            );
        }
    } else {
        println!("Docker Desktop reaches this machine's loopback through {host}.");
    }
    println!();
    let mut lines = Vec::new();
    for e in sample_events() {
        let mut line: Vec<String> = format!(
            "sam local invoke {} -e events/{} --env-vars {ENV_FILE} --region {REGION}",
            e.logical_id(),
            e.path
        )
        .split_whitespace()
        .map(str::to_owned)
        .collect();
        if linux {
            line.extend(ADD_HOST.split_whitespace().map(str::to_owned));
        }
        let answer = e.sam_local_answer();
        let why = match &e.sam_local {
            Some(_) => format!(
                "  (deployed: {} {}; {ENV_FILE} allows any sender)",
                e.expected.status, e.expected.outcome
            ),
            None => String::new(),
        };
        println!(
            "{}\n    # {} {}{why}",
            line.join(" "),
            answer.status,
            answer.outcome,
        );
        lines.push((e, line));
    }
    lines
}

/// The printed events through `cargo lambda invoke`, the functions given exactly what the env
/// file gives them and what SAM adds (region, placeholder credentials); `AWS_ENDPOINT_URL`
/// unset, so the store is reached through the two `LOCAL_ENDPOINT_URL*` alone.
async fn run_check(
    env: &EnvFile,
    local: &LocalAws,
    sdk: &aws_config::SdkConfig,
    table: &str,
    subscribers: &stack::Subscribers,
) -> Result<bool, String> {
    let mut vars = env.union()?;
    // host.docker.internal is the containers' name for this machine; here it is loopback.
    vars.insert(LOCAL_ENDPOINT_URL.into(), local.moto.endpoint());
    vars.insert(
        LOCAL_ENDPOINT_URL_DYNAMODB.into(),
        local.dynamodb.endpoint(),
    );
    for (k, v) in [
        ("AWS_REGION", REGION),
        ("AWS_DEFAULT_REGION", REGION),
        ("AWS_ACCESS_KEY_ID", "defaultkey"),
        ("AWS_SECRET_ACCESS_KEY", "defaultsecret"),
    ] {
        vars.insert(k.into(), v.into());
    }
    let functions = Functions::serve(&vars, &target_dir()?.join("sam-local-check.log"))?;
    println!(
        "\n== the lines above through cargo lambda invoke, with {ENV_FILE} (answer, expected under sam local invoke)"
    );
    let mismatches = replay(&functions, |e| e.sam_local_answer())?;
    let notifier_env = env.function("NotifierFunction")?.clone();
    let failures = report(sdk, table, &functions, subscribers, &notifier_env).await?;
    if mismatches > 0 {
        println!("\nsam-local: {mismatches} answer(s) differ from what events/expected.json promises under sam local invoke");
    }
    Ok(mismatches == 0 && failures == 0)
}

/// The printed lines run as printed (`make sam-local-docker` gives them the Docker engine and
/// the base image), each answer and the outcome the function logged compared with the one
/// promised; SAM's and the functions' output of each run in target/sam-local-docker.log.
async fn run_docker(
    lines: &[(SampleEvent, Vec<String>)],
    sdk: &aws_config::SdkConfig,
    table: &str,
) -> Result<bool, String> {
    let path = target_dir()?.join("sam-local-docker.log");
    let mut log = std::fs::File::create(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    println!(
        "\n== the lines above through sam local invoke under Docker (answer, outcome logged, seconds; expected)"
    );
    let mut mismatches = 0;
    let mut restarts = 0;
    for (e, line) in lines {
        // On a machine that emulates arm64, the container's runtime (the Runtime Interface
        // Emulator, under qemu) sometimes never hands the invocation to the function within its
        // timeout: no START line, nothing on standard output, the function never ran (seen here
        // on 2026-12-07 for about half the runs, while the same bootstrap answered every time
        // under qemu on the host). Such a run says nothing of the function: it is run again, up
        // to STARTS times, and counted. Every run that reached the function is checked as it is.
        const STARTS: usize = 15;
        let mut tries = 0;
        let (out, seconds) = loop {
            tries += 1;
            let started = Instant::now();
            let out = Command::new(&line[0])
                .args(&line[1..])
                .current_dir(project_root())
                .output()
                .map_err(|err| format!("cannot run {}: {err}", line[0]))?;
            let seconds = started.elapsed().as_secs_f64();
            let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
            let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
            writeln!(log, "$ {}\n{stderr}{stdout}", line.join(" "))
                .map_err(|err| format!("{}: {err}", path.display()))?;
            let never_ran = !stderr.contains("START RequestId") && stdout.trim().is_empty();
            if !never_ran || tries == STARTS {
                break (out, seconds);
            }
            restarts += 1;
        };
        let stdout = String::from_utf8_lossy(&out.stdout);
        let stderr = String::from_utf8_lossy(&out.stderr);
        let want = e.sam_local_answer();
        let (got, ok) = match docker_answer(out.status.success(), &stdout, &stderr) {
            Ok((answer, body)) => (
                format!("{} {body} {}", answer.status, answer.outcome),
                answer == *want,
            ),
            Err(why) => (why, false),
        };
        mismatches += usize::from(!ok);
        println!(
            "  {:36} {got}   {seconds:.1} s   (expected {}, {}) {}",
            e.path,
            want.status,
            want.outcome,
            if ok { "ok" } else { "UNEXPECTED" }
        );
    }
    if restarts > 0 {
        println!(
            "  ({restarts} run(s) in which the container never started the function were run again)"
        );
    }
    println!("\n== the table");
    print_table(sdk, table).await;
    if mismatches > 0 {
        println!(
            "\nsam-local: {mismatches} answer(s) differ from what events/expected.json promises under sam local invoke (see {})",
            path.display()
        );
    }
    Ok(mismatches == 0)
}

/// What one `sam local invoke` run answered: the status and outcome (the function's own log line
/// of the request, which SAM passes through on standard error) and the body; or why there is none.
fn docker_answer(success: bool, stdout: &str, stderr: &str) -> Result<(Answer, String), String> {
    if !success {
        let last = stderr.lines().rev().find(|l| !l.trim().is_empty());
        return Err(format!("sam failed: {}", last.unwrap_or("(no output)")));
    }
    let response: Value = stdout
        .lines()
        .rev()
        .find_map(|l| serde_json::from_str(l).ok())
        .ok_or_else(|| format!("no JSON answer on standard output: {stdout:?}"))?;
    let status = response["statusCode"]
        .as_u64()
        .and_then(|s| u16::try_from(s).ok())
        .ok_or_else(|| format!("an answer without statusCode: {response}"))?;
    let outcome = stderr
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .find_map(|v| v["outcome"].as_str().map(str::to_owned))
        .ok_or("no log line with an outcome on standard error")?;
    let body = response["body"].as_str().unwrap_or_default().to_owned();
    Ok((Answer { status, outcome }, body))
}

#[cfg(test)]
mod tests {
    use super::*;

    const LOG: &str = r#"{"level":"INFO","webhook":"shipments","status":200,"outcome":"stored"}"#;
    const ANSWER: &str = r#"{"statusCode":200,"headers":{},"body":"{\"result\":\"OK\"}"}"#;

    #[test]
    fn an_answer_is_the_status_sam_prints_and_the_outcome_the_function_logged() {
        let stderr = format!(
            "Invoking bootstrap (provided.al2023)\nSTART RequestId: 1\n{LOG}\nEND RequestId: 1\n"
        );
        let (answer, body) = docker_answer(true, ANSWER, &stderr).expect("an answer");
        assert_eq!(
            answer,
            Answer {
                status: 200,
                outcome: "stored".into()
            }
        );
        assert_eq!(body, r#"{"result":"OK"}"#);
    }

    #[test]
    fn a_run_without_a_whole_answer_is_no_answer() {
        for (success, stdout, stderr, why) in [
            (
                false,
                "",
                "Error: Running AWS SAM projects locally requires a container runtime.",
                "sam failed: Error: Running",
            ),
            (false, ANSWER, LOG, "sam failed"),
            (true, "", LOG, "no JSON answer"),
            (true, "Invoking bootstrap", LOG, "no JSON answer"),
            (
                true,
                r#"{"errorMessage":"Task timed out"}"#,
                LOG,
                "without statusCode",
            ),
            (true, r#"{"statusCode":"200"}"#, LOG, "without statusCode"),
            (true, r#"{"statusCode":70000}"#, LOG, "without statusCode"),
            (true, ANSWER, "", "no log line with an outcome"),
            (
                true,
                ANSWER,
                r#"{"level":"INFO","message":"cold start"}"#,
                "no log line with an outcome",
            ),
            (
                true,
                ANSWER,
                "outcome=stored",
                "no log line with an outcome",
            ),
        ] {
            let err = docker_answer(success, stdout, stderr).expect_err(stderr);
            assert!(
                err.starts_with(why) || err.contains(why),
                "{err:?} for {stdout:?} {stderr:?}"
            );
        }
    }
}
