//! A moto server of the tests' own, on a free loopback port. It is started once per test binary
//! and stops by itself when the tests end: it runs under a shell that kills it when its stdin, held
//! by this process, closes.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

pub struct Moto {
    pub port: u16,
    /// Held for the life of the server: dropping its stdin stops moto.
    _process: Mutex<Process>,
}

/// The shell that runs moto, and its stdin: closing it stops the server.
struct Process {
    _child: Child,
    _stdin: ChildStdin,
}

impl Moto {
    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// A new server on a free port, ready to answer.
    pub fn start() -> Moto {
        Self::start_with(&[])
    }

    /// A new server with more arguments for `tools/moto_server.py` (`--cert`, `--key`).
    pub fn start_with(args: &[&str]) -> Moto {
        let port = free_port();
        let process = spawn(port, args);
        wait_ready(port, !args.contains(&"--cert"));
        Moto {
            port,
            _process: Mutex::new(process),
        }
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

fn free_port() -> u16 {
    TcpListener::bind(("127.0.0.1", 0))
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap_or_else(|e| panic!("cannot find a free loopback port: {e}"))
}

fn spawn(port: u16, args: &[&str]) -> Process {
    let python = project_root().join(".venv/bin/python");
    let server = project_root().join("tools/moto_server.py");
    assert!(
        python.exists(),
        "the project's Python tools are not installed ({} is missing): run tools/setup.sh (make test does it)",
        python.display()
    );
    // The server lives as long as the shell's stdin stays open: when this process exits or
    // `stop` drops it, `cat` returns and the shell stops moto.
    let script = format!(
        "{} {} -H 127.0.0.1 -p {port} {} >/dev/null 2>&1 & pid=$!; cat >/dev/null; kill $pid; wait $pid",
        shell_quote(&python.display().to_string()),
        shell_quote(&server.display().to_string()),
        args.iter().map(|a| shell_quote(a)).collect::<Vec<_>>().join(" ")
    );
    let mut child = Command::new("sh")
        .arg("-c")
        .arg(script)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start moto_server: {e}"));
    let stdin = child
        .stdin
        .take()
        .unwrap_or_else(|| panic!("no stdin for the moto shell"));
    Process {
        _child: child,
        _stdin: stdin,
    }
}

fn shell_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "'\\''"))
}

/// Waits until moto answers; over TLS, until it accepts connections.
fn wait_ready(port: u16, plain_http: bool) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Ok(mut stream) = TcpStream::connect(("127.0.0.1", port)) {
            if !plain_http {
                return;
            }
            let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
            let request = "GET /moto-api/ HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n";
            if stream.write_all(request.as_bytes()).is_ok() {
                let mut head = [0u8; 12];
                if stream.read_exact(&mut head).is_ok() && head.starts_with(b"HTTP/1.") {
                    return;
                }
            }
        }
        assert!(
            Instant::now() < deadline,
            "moto_server did not answer on 127.0.0.1:{port} within 60 s"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}
