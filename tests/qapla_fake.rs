//! A fake of Qapla's API on a free loopback port: real HTTP, answered by the core's
//! `MemoryQapla` (scripted shipments, a real token bucket that answers 429 when overdrawn) on
//! real time, or on a test's own clock. It serves until the test binary ends.

use qapla::recover::memory::MemoryQapla;
use qapla::recover::pace::{QAPLA_CAPACITY, QAPLA_PER_SECOND};
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::Arc;
use std::time::{Duration, Instant};

pub struct FakeQapla {
    pub port: u16,
    pub api: Arc<MemoryQapla>,
}

impl FakeQapla {
    /// Qapla's own bucket: 120, refilled at 2 a second.
    pub fn start() -> FakeQapla {
        Self::with_bucket(QAPLA_CAPACITY, QAPLA_PER_SECOND)
    }

    pub fn with_bucket(capacity: u32, per_second: f64) -> FakeQapla {
        let start = Instant::now();
        Self::on_clock(capacity, per_second, Arc::new(move || start.elapsed()))
    }

    /// A bucket refilled on the time `clock` gives (a test's clock, shared with the client).
    pub fn on_clock(
        capacity: u32,
        per_second: f64,
        clock: Arc<dyn Fn() -> Duration + Send + Sync>,
    ) -> FakeQapla {
        let api = Arc::new(MemoryQapla::with_bucket(capacity, per_second, clock));
        let listener = TcpListener::bind(("127.0.0.1", 0)).expect("a loopback port for the fake");
        let port = listener.local_addr().expect("its address").port();
        let served = Arc::clone(&api);
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let api = Arc::clone(&served);
                std::thread::spawn(move || serve(stream, &api));
            }
        });
        FakeQapla { port, api }
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }
}

fn decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' => {
                let hex = bytes.get(i + 1..i + 3).unwrap_or_default();
                match u8::from_str_radix(std::str::from_utf8(hex).unwrap_or(""), 16) {
                    Ok(b) => {
                        out.push(b);
                        i += 2;
                    }
                    Err(_) => out.push(b'%'),
                }
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// One request per connection, then the connection is closed.
fn serve(mut stream: TcpStream, api: &MemoryQapla) {
    let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
    let mut head = Vec::new();
    let mut buf = [0u8; 4096];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") && head.len() < 65_536 {
        match stream.read(&mut buf) {
            Ok(0) | Err(_) => return,
            Ok(n) => head.extend_from_slice(&buf[..n]),
        }
    }
    let head = String::from_utf8_lossy(&head);
    let target = head
        .lines()
        .next()
        .and_then(|line| line.split_whitespace().nth(1))
        .unwrap_or("/");
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    let pairs: Vec<(String, String)> = query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (decode(k), decode(v))
        })
        .collect();
    let answer = api.answer(path, &pairs);
    let reason = match answer.status {
        200 => "OK",
        404 => "Not Found",
        429 => "Too Many Requests",
        _ => "Other",
    };
    let head = format!(
        "HTTP/1.1 {} {reason}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        answer.status,
        answer.body.len()
    );
    let _ = stream.write_all(head.as_bytes());
    let _ = stream.write_all(&answer.body);
}
