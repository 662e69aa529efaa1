//! A moto server of our own, on a free loopback port unless told otherwise: the local S3, SNS,
//! SQS, SSM and EventBridge (DynamoDB is DynamoDB Local's, see [`crate::dynamodb_local`]). It
//! stops by itself when the process that started it ends (see [`crate::process`]).

use crate::process::{wait_http, Guarded};
use std::net::{IpAddr, Ipv4Addr, TcpListener};
use std::path::PathBuf;
use std::sync::Mutex;

pub struct Moto {
    pub port: u16,
    /// The address it listens on.
    pub host: IpAddr,
    /// Held for the life of the server: dropping it stops moto.
    _process: Mutex<Guarded>,
}

impl Moto {
    /// The endpoint of the server from this machine.
    pub fn endpoint(&self) -> String {
        format!("http://{}:{}", reachable(self.host), self.port)
    }

    /// A new server on a free loopback port, ready to answer.
    pub fn start() -> Moto {
        Self::start_with(&[])
    }

    /// A new server with more arguments for `moto_server` (`-s -c CERT -k KEY` for TLS).
    pub fn start_with(args: &[&str]) -> Moto {
        let localhost = IpAddr::V4(Ipv4Addr::LOCALHOST);
        Self::start_on(localhost, free_port(), args).unwrap_or_else(|e| panic!("{e}"))
    }

    /// A new server on a given address and port, ready to answer.
    pub fn start_on(host: IpAddr, port: u16, args: &[&str]) -> Result<Moto, String> {
        TcpListener::bind((host, port))
            .map_err(|e| format!("moto cannot listen on {host}:{port}: {e}"))?;
        let server = project_root().join(".venv/bin/moto_server");
        if !server.exists() {
            return Err(format!(
                "the project's Python tools are not installed ({} is missing): run tools/setup.sh",
                server.display()
            ));
        }
        let mut argv = vec![
            "-H".to_owned(),
            host.to_string(),
            "-p".into(),
            port.to_string(),
        ];
        argv.extend(args.iter().map(|a| (*a).to_owned()));
        let mut process = Guarded::spawn(&server.display().to_string(), &argv, &[], None)?;
        if args.contains(&"-s") {
            // Over TLS: ready once it accepts connections.
            crate::process::wait_listening(&mut process, "moto_server", reachable(host), port)?;
        } else {
            wait_http(
                &mut process,
                "moto_server",
                reachable(host),
                port,
                "/moto-api/",
            )?;
        }
        Ok(Moto {
            port,
            host,
            _process: Mutex::new(process),
        })
    }
}

pub fn project_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(PathBuf::from)
        .unwrap_or_default()
}

pub fn free_port() -> u16 {
    TcpListener::bind(("127.0.0.1", 0))
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap_or_else(|e| panic!("cannot find a free loopback port: {e}"))
}

/// Where this machine reaches a server listening on `host`: all interfaces include loopback.
pub fn reachable(host: IpAddr) -> IpAddr {
    if host.is_unspecified() {
        IpAddr::V4(Ipv4Addr::LOCALHOST)
    } else {
        host
    }
}
