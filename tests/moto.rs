//! A moto server of our own, on a free loopback port unless told otherwise. The tests start one
//! per test binary; it stops by itself when the process that started it ends (see
//! [`crate::process`]).

use crate::process::Guarded;
use std::io::{Read, Write};
use std::net::{IpAddr, Ipv4Addr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

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

    /// A new server with more arguments for `tools/moto_server.py` (`--cert`, `--key`).
    pub fn start_with(args: &[&str]) -> Moto {
        let localhost = IpAddr::V4(Ipv4Addr::LOCALHOST);
        Self::start_on(localhost, free_port(), args).unwrap_or_else(|e| panic!("{e}"))
    }

    /// A new server on a given address and port, ready to answer.
    pub fn start_on(host: IpAddr, port: u16, args: &[&str]) -> Result<Moto, String> {
        TcpListener::bind((host, port))
            .map_err(|e| format!("moto cannot listen on {host}:{port}: {e}"))?;
        let python = project_root().join(".venv/bin/python");
        if !python.exists() {
            return Err(format!(
                "the project's Python tools are not installed ({} is missing): run tools/setup.sh",
                python.display()
            ));
        }
        let mut argv = vec![
            project_root()
                .join("tools/moto_server.py")
                .display()
                .to_string(),
            "-H".into(),
            host.to_string(),
            "-p".into(),
            port.to_string(),
        ];
        argv.extend(args.iter().map(|a| (*a).to_owned()));
        let mut process = Guarded::spawn(&python.display().to_string(), &argv, &[], None)?;
        wait_ready(
            &mut process,
            reachable(host),
            port,
            !args.contains(&"--cert"),
        )?;
        Ok(Moto {
            port,
            host,
            _process: Mutex::new(process),
        })
    }
}

/// The shared server of this test binary.
pub fn shared() -> &'static Moto {
    static MOTO: OnceLock<Moto> = OnceLock::new();
    MOTO.get_or_init(Moto::start)
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
fn reachable(host: IpAddr) -> IpAddr {
    if host.is_unspecified() {
        IpAddr::V4(Ipv4Addr::LOCALHOST)
    } else {
        host
    }
}

/// Waits until moto answers; over TLS, until it accepts connections.
fn wait_ready(
    process: &mut Guarded,
    host: IpAddr,
    port: u16,
    plain_http: bool,
) -> Result<(), String> {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Ok(mut stream) = TcpStream::connect((host, port)) {
            if !plain_http {
                return Ok(());
            }
            let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
            let request = format!("GET /moto-api/ HTTP/1.0\r\nHost: {host}\r\n\r\n");
            if stream.write_all(request.as_bytes()).is_ok() {
                let mut head = [0u8; 12];
                if stream.read_exact(&mut head).is_ok() && head.starts_with(b"HTTP/1.") {
                    return Ok(());
                }
            }
        }
        if process.has_ended() {
            return Err(format!("moto_server on {host}:{port} stopped at its start"));
        }
        if Instant::now() >= deadline {
            return Err(format!(
                "moto_server did not answer on {host}:{port} within 60 s"
            ));
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}
