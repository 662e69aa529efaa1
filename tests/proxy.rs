//! A TCP proxy on loopback that can be switched off and on, to take a service away from the
//! functions without losing its state: while off, it cuts open connections and closes new ones
//! at once, as an unreachable endpoint would. It can also hold each request back for a fixed
//! time, as a region's round trip would, and counts the requests it forwarded.

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU16, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

pub struct Proxy {
    pub port: u16,
    target: Arc<AtomicU16>,
    up: Arc<AtomicBool>,
    open: Arc<Mutex<Vec<TcpStream>>>,
    requests: Arc<Requests>,
}

/// What the proxy does to the requests: how long each is held back, and how many went through.
#[derive(Default)]
struct Requests {
    delay_micros: AtomicU64,
    seen: AtomicUsize,
}

impl Proxy {
    /// A proxy on a free loopback port in front of `127.0.0.1:target`, switched on.
    pub fn start(target: u16) -> Proxy {
        let listener = TcpListener::bind(("127.0.0.1", 0)).expect("bind a loopback port");
        let port = listener.local_addr().expect("address").port();
        let up = Arc::new(AtomicBool::new(true));
        let target = Arc::new(AtomicU16::new(target));
        let open: Arc<Mutex<Vec<TcpStream>>> = Arc::default();
        let requests: Arc<Requests> = Arc::default();
        let (up2, open2, target2, requests2) =
            (up.clone(), open.clone(), target.clone(), requests.clone());
        // The accept loop ends with the test process; it only ever serves loopback.
        thread::spawn(move || {
            for client in listener.incoming().flatten() {
                if !up2.load(Ordering::SeqCst) {
                    let _ = client.shutdown(Shutdown::Both);
                    continue;
                }
                let Ok(server) = TcpStream::connect(("127.0.0.1", target2.load(Ordering::SeqCst)))
                else {
                    let _ = client.shutdown(Shutdown::Both);
                    continue;
                };
                if let (Ok(c), Ok(s)) = (client.try_clone(), server.try_clone()) {
                    let mut open = open2.lock().unwrap_or_else(|e| e.into_inner());
                    open.push(c);
                    open.push(s);
                }
                // A connection carries one request at a time (HTTP/1.1, as the SDK speaks it
                // over plain http): what the client sends after an answer, or first, is a new
                // request; the rest of its body follows before the server answers.
                let answered = Arc::new(AtomicBool::new(true));
                let (answered2, requests) = (answered.clone(), requests2.clone());
                pipe(client.try_clone(), server.try_clone(), move || {
                    if answered2.swap(false, Ordering::SeqCst) {
                        requests.seen.fetch_add(1, Ordering::SeqCst);
                        let delay = requests.delay_micros.load(Ordering::SeqCst);
                        if delay > 0 {
                            thread::sleep(Duration::from_micros(delay));
                        }
                    }
                });
                // Marked before it is forwarded: the client's next request may follow at once.
                pipe(server.try_clone(), client.try_clone(), move || {
                    answered.store(true, Ordering::SeqCst)
                });
            }
        });
        Proxy {
            port,
            target,
            up,
            open,
            requests,
        }
    }

    /// Holds each request back for `delay` before it reaches the service (on a kept-alive
    /// connection too, so that each of a client's calls pays it, as each pays a round trip).
    pub fn set_delay(&self, delay: Duration) {
        let micros = u64::try_from(delay.as_micros()).unwrap_or(u64::MAX);
        self.requests.delay_micros.store(micros, Ordering::SeqCst);
    }

    /// How many requests went through since the proxy started.
    pub fn requests(&self) -> usize {
        self.requests.seen.load(Ordering::SeqCst)
    }

    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Sends new connections to another port, and cuts the open ones.
    pub fn set_target(&self, port: u16) {
        self.target.store(port, Ordering::SeqCst);
        self.cut_open_connections();
    }

    fn cut_open_connections(&self) {
        let mut open = self.open.lock().unwrap_or_else(|e| e.into_inner());
        for stream in open.drain(..) {
            let _ = stream.shutdown(Shutdown::Both);
        }
    }

    /// Takes the service away (true) or brings it back (false).
    pub fn set_down(&self, down: bool) {
        self.up.store(!down, Ordering::SeqCst);
        if down {
            self.cut_open_connections();
        }
    }
}

/// Copies `from` to `to` until either closes, calling `before` ahead of each chunk it forwards.
fn pipe(
    from: std::io::Result<TcpStream>,
    to: std::io::Result<TcpStream>,
    mut before: impl FnMut() + Send + 'static,
) {
    let (Ok(mut from), Ok(mut to)) = (from, to) else {
        return;
    };
    thread::spawn(move || {
        let mut buf = [0u8; 16 * 1024];
        loop {
            match from.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    before();
                    if to.write_all(&buf[..n]).is_err() {
                        break;
                    }
                }
            }
        }
        let _ = to.shutdown(Shutdown::Write);
    });
}

/// An HTTP endpoint on loopback that answers every request with `status` and the JSON `body`, as
/// an AWS service answers an error. It reads each request whole (headers and body) first, as a
/// server would, and serves until the test process ends.
pub fn answering(status: u16, body: String) -> String {
    use std::io::{BufRead, BufReader};
    let listener = TcpListener::bind(("127.0.0.1", 0)).expect("bind a loopback port");
    let port = listener.local_addr().expect("address").port();
    let body = Arc::new(body);
    thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let body = Arc::clone(&body);
            thread::spawn(move || {
                let Ok(clone) = stream.try_clone() else {
                    return;
                };
                let mut reader = BufReader::new(clone);
                let mut stream = stream;
                loop {
                    let mut length = 0usize;
                    let mut line = String::new();
                    // The request line and headers.
                    loop {
                        line.clear();
                        if reader.read_line(&mut line).unwrap_or(0) == 0 {
                            return;
                        }
                        let lower = line.to_ascii_lowercase();
                        if let Some(v) = lower.strip_prefix("content-length:") {
                            length = v.trim().parse().unwrap_or(0);
                        }
                        if line == "\r\n" {
                            break;
                        }
                    }
                    let mut request = vec![0; length];
                    if reader.read_exact(&mut request).is_err() {
                        return;
                    }
                    let reply = format!(
                        "HTTP/1.1 {status} Error\r\nContent-Type: application/x-amz-json-1.0\r\nx-amzn-RequestId: test\r\nContent-Length: {}\r\n\r\n{body}",
                        body.len()
                    );
                    if stream.write_all(reply.as_bytes()).is_err() {
                        return;
                    }
                }
            });
        }
    });
    format!("http://127.0.0.1:{port}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Instant;

    /// Sends one request on `stream` and reads its whole answer (`answering`'s, of `body`).
    fn round_trip(stream: &mut TcpStream, body: &str) {
        let request = "POST / HTTP/1.1\r\nHost: test\r\nContent-Length: 2\r\n\r\n{}";
        stream.write_all(request.as_bytes()).expect("send");
        let mut got = Vec::new();
        let mut buf = [0u8; 1024];
        while !got.ends_with(body.as_bytes()) {
            let n = stream.read(&mut buf).expect("read the answer");
            assert!(
                n > 0,
                "closed before the answer: {:?}",
                String::from_utf8_lossy(&got)
            );
            got.extend_from_slice(&buf[..n]);
        }
    }

    #[test]
    fn each_request_is_held_back_and_counted_on_a_kept_alive_connection_too() {
        let body = r#"{"ok":true}"#;
        let server = answering(200, body.to_owned());
        let port = server
            .rsplit(':')
            .next()
            .and_then(|p| p.parse().ok())
            .expect("the server's port");
        let proxy = Proxy::start(port);
        let delay = Duration::from_millis(40);
        proxy.set_delay(delay);
        let mut stream = TcpStream::connect(("127.0.0.1", proxy.port)).expect("connect");
        for n in 1..=2 {
            let start = Instant::now();
            round_trip(&mut stream, body);
            // A lower bound only: a busy machine may take any time longer.
            assert!(
                start.elapsed() >= delay,
                "request {n}: {:?}",
                start.elapsed()
            );
            assert_eq!(proxy.requests(), n);
        }
        let mut other = TcpStream::connect(("127.0.0.1", proxy.port)).expect("connect");
        round_trip(&mut other, body);
        assert_eq!(proxy.requests(), 3);
    }
}
