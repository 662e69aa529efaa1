//! The functions under `cargo lambda watch` on loopback, and `cargo lambda invoke` of
//! events against them.

use integration_tests::moto::{free_port, project_root};
use integration_tests::process::Guarded;
use serde_json::Value;
use std::collections::BTreeMap;
use std::net::TcpStream;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

/// What `cargo run` sets for the program it runs (this runner) and a cargo started from it would
/// inherit: build scripts such as ring's ask to be rerun when these change, so a cargo that saw
/// them would rebuild ring and all above it for the next plain `cargo test`, and back again.
fn inherited_from_cargo_run() -> Vec<String> {
    std::env::vars_os()
        .filter_map(|(k, _)| k.into_string().ok())
        .filter(|k| {
            k.starts_with("CARGO_PKG_")
                || k.starts_with("CARGO_MANIFEST_")
                || [
                    "CARGO_CRATE_NAME",
                    "CARGO_BIN_NAME",
                    "CARGO_PRIMARY_PACKAGE",
                ]
                .contains(&k.as_str())
        })
        .collect()
}

/// `cargo` with the environment of a plain shell, not that of `cargo run`.
fn cargo() -> Command {
    let mut command = Command::new("cargo");
    for name in inherited_from_cargo_run() {
        command.env_remove(name);
    }
    command
}

/// Builds the functions and the notices printer first, so the first invocation does not wait on a
/// cold compile of the AWS SDK.
pub fn build() -> Result<(), String> {
    println!("local: building the functions (the first time takes a few minutes)");
    let status = cargo()
        .args([
            "build",
            "-q",
            "-p",
            "shipments",
            "-p",
            "returns",
            "-p",
            "orders",
        ])
        .args([
            "-p",
            "notifier",
            "-p",
            "reconciler",
            "-p",
            "stuck",
            "-p",
            "drain",
        ])
        .current_dir(project_root())
        .status()
        .map_err(|e| format!("cannot run cargo: {e}"))?;
    let notices = cargo()
        .arg("build")
        .args(NOTICES)
        .current_dir(project_root())
        .status();
    match (status.success(), notices) {
        (true, Ok(s)) if s.success() => Ok(()),
        _ => Err("the functions did not build".into()),
    }
}

/// The adapters' example that prints what the notifier publishes for a stream event.
const NOTICES: [&str; 5] = ["-q", "-p", "qapla-aws", "--example", "notices"];

pub struct Functions {
    pub port: u16,
    _watch: Guarded,
}

impl Functions {
    /// `cargo lambda watch` on a free loopback port with exactly `env` added (and
    /// `AWS_ENDPOINT_URL` removed, so only `env` says where the store is), its log in `log`.
    pub fn serve(env: &BTreeMap<String, String>, log: &Path) -> Result<Functions, String> {
        let port = free_port();
        let _ = std::fs::remove_file(log);
        let mut args: Vec<String> = vec!["-u".into(), "AWS_ENDPOINT_URL".into()];
        for name in inherited_from_cargo_run() {
            args.extend(["-u".into(), name]);
        }
        args.extend(env.iter().map(|(k, v)| format!("{k}={v}")));
        args.extend(
            [
                "cargo",
                "lambda",
                "watch",
                "-A",
                "127.0.0.1",
                "-P",
                &port.to_string(),
            ]
            .map(str::to_owned),
        );
        let mut watch = Guarded::spawn("env", &args, &[], Some(log))?;
        let deadline = Instant::now() + Duration::from_secs(180);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            if watch.has_ended() || Instant::now() > deadline {
                return Err(format!(
                    "cargo lambda watch did not start on 127.0.0.1:{port}: see {}",
                    log.display()
                ));
            }
            std::thread::sleep(Duration::from_millis(300));
        }
        Ok(Functions {
            port,
            _watch: watch,
        })
    }

    /// Runs one event file through a function as Lambda would; its JSON answer.
    pub fn invoke(&self, function: &str, data_file: &Path) -> Result<Value, String> {
        let out = cargo()
            .args(["lambda", "invoke", "-A", "127.0.0.1", "-P"])
            .arg(self.port.to_string())
            .arg(function)
            .arg("--data-file")
            .arg(data_file)
            .args(["--output-format", "json"])
            .current_dir(project_root())
            .output()
            .map_err(|e| format!("cannot run cargo lambda invoke: {e}"))?;
        if !out.status.success() {
            return Err(format!(
                "cargo lambda invoke {function} failed:\n{}",
                String::from_utf8_lossy(&out.stderr)
            ));
        }
        serde_json::from_slice(&out.stdout)
            .map_err(|e| format!("cargo lambda invoke {function}: not JSON: {e}"))
    }
}

/// Prints what the notifier publishes for a stream event (JSON document, email, SMS), rendered by
/// the crate's own printer with the notifier settings in `env`.
pub fn print_notices(event: &Value, env: &BTreeMap<String, String>) -> Result<(), String> {
    use std::io::Write;
    let mut child = cargo()
        .arg("run")
        .args(NOTICES)
        .current_dir(project_root())
        .envs(env)
        .stdin(std::process::Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot print the notices: {e}"))?;
    if let Some(mut stdin) = child.stdin.take() {
        stdin
            .write_all(event.to_string().as_bytes())
            .map_err(|e| format!("cannot print the notices: {e}"))?;
    }
    match child.wait() {
        Ok(s) if s.success() => Ok(()),
        _ => Err("the notices printer failed".into()),
    }
}
