//! `make sam-local`: the local store that `sam local invoke` reaches with the sample events and
//! `events/env.local.json` as committed. moto listens on the port of the file's
//! `LOCAL_ENDPOINT_URL`, on loopback unless `BIND` says otherwise; the table, topic and queues
//! are those of `template.yaml`, under the file's names. It prints the `sam local invoke` line of
//! each sample event, then serves until Ctrl-C or `SAM_LOCAL_MINUTES` (default 30) and prints
//! what the table holds.
//!
//! `--check` (CI; no Docker needed) runs the printed events instead through `cargo lambda invoke`
//! against functions given the file's variables, as SAM gives them, and compares each answer
//! with the one promised under `sam local invoke`.

use crate::functions::{self, Functions};
use crate::{print_table, replay, report, target_dir};
use integration_tests::events::sample_events;
use integration_tests::moto::Moto;
use integration_tests::sam_local::{EnvFile, ENV_FILE, LOCAL_ENDPOINT_URL};
use integration_tests::stack::{self, REGION};
use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

/// On Linux the name is not built in: Docker maps it to the host's bridge address when asked.
const ADD_HOST: &str = "--add-host host.docker.internal:host-gateway";

pub async fn prepare(check: bool) -> Result<bool, String> {
    let env = EnvFile::read()?;
    let table = env.shared("TABLE_NAME")?;
    let topic_arn = env.shared("TOPIC_ARN")?;
    let topic = topic_arn.rsplit(':').next().unwrap_or_default().to_owned();
    let (host, port) = env.endpoint_host_port()?;
    let bind = match std::env::var("BIND").ok().filter(|b| !b.is_empty()) {
        Some(b) => b
            .parse::<IpAddr>()
            .map_err(|_| format!("BIND={b} is not an IP address"))?,
        None => IpAddr::V4(Ipv4Addr::LOCALHOST),
    };
    if check {
        functions::build()?;
    }
    let moto = Moto::start_on(bind, port, &[]).map_err(|e| {
        format!("{e} (the port is {LOCAL_ENDPOINT_URL}'s in {ENV_FILE}; is another make sam-local running?)")
    })?;
    let sdk = stack::sdk(&moto.endpoint()).await;
    let subscribers = stack::create_local_stack(&sdk, &table, &topic).await;
    let bucket = env.shared("BUCKET_NAME")?;
    integration_tests::archive::create_bucket(&moto.endpoint(), &bucket).await;
    if subscribers.topic_arn != topic_arn {
        return Err(format!(
            "the local topic is {}, but {ENV_FILE} gives the notifier {topic_arn}",
            subscribers.topic_arn
        ));
    }
    println!(
        "sam-local: moto (DynamoDB, streams, SNS, SQS, S3) on {bind}:{port}; table {table}, bucket {bucket}, topic {topic} and its queues created from template.yaml"
    );
    if !bind.is_loopback() {
        println!(
            "sam-local: WARNING: moto listens on {bind}, not only loopback: whoever reaches this machine on port {port} can read and write the local store. Use it on a trusted network only."
        );
    }
    print_commands(&host, port, bind);

    if check {
        return run_check(&env, &moto, &sdk, &table, &subscribers).await;
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

fn print_commands(host: &str, port: u16, bind: IpAddr) {
    let linux = cfg!(target_os = "linux");
    println!(
        "
== sam local invoke (Docker; after `make build`), from another terminal in the project root
The functions reach this store at http://{host}:{port} ({LOCAL_ENDPOINT_URL} in {ENV_FILE})."
    );
    if linux {
        println!(
            "On Linux, {ADD_HOST} (in the lines below) names the Docker bridge's
address, and moto must listen there: `make sam-local BIND=<docker0's address, often 172.17.0.1>`,
or on every interface with `make sam-local BIND=0.0.0.0`. (Docker Desktop routes {host} to
loopback by itself.)"
        );
        if bind.is_loopback() {
            println!("moto listens on loopback only now: a container on Linux cannot reach it.");
        }
    } else {
        println!("Docker Desktop reaches this machine's loopback through {host}.");
    }
    println!();
    let extra = if linux {
        format!(" {ADD_HOST}")
    } else {
        String::new()
    };
    for e in sample_events() {
        let answer = e.sam_local_answer();
        let why = match &e.sam_local {
            Some(_) => format!(
                "  (deployed: {} {}; {ENV_FILE} allows any sender)",
                e.expected.status, e.expected.outcome
            ),
            None => String::new(),
        };
        println!(
            "sam local invoke {} -e events/{} --env-vars {ENV_FILE} --region {REGION}{extra}\n    # {} {}{why}",
            e.logical_id(),
            e.path,
            answer.status,
            answer.outcome,
        );
    }
}

/// The printed events through `cargo lambda invoke`, the functions given exactly what the env
/// file gives them and what SAM adds (region, placeholder credentials); `AWS_ENDPOINT_URL`
/// unset, so the store is reached through `LOCAL_ENDPOINT_URL` alone.
async fn run_check(
    env: &EnvFile,
    moto: &Moto,
    sdk: &aws_config::SdkConfig,
    table: &str,
    subscribers: &stack::Subscribers,
) -> Result<bool, String> {
    let mut vars = env.union()?;
    // host.docker.internal is the containers' name for this machine; here it is loopback.
    vars.insert(LOCAL_ENDPOINT_URL.into(), moto.endpoint());
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
        println!("\nsam-local: {mismatches} answer(s) differ from what README promises under sam local invoke");
    }
    Ok(mismatches == 0 && failures == 0)
}
