//! A TCP proxy on loopback that can be switched off and on, to take a service away from the
//! functions without losing its state: while off, it cuts open connections and closes new ones
//! at once, as an unreachable endpoint would.

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU16, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;

pub struct Proxy {
    pub port: u16,
    target: Arc<AtomicU16>,
    up: Arc<AtomicBool>,
    open: Arc<Mutex<Vec<TcpStream>>>,
}

impl Proxy {
    /// A proxy on a free loopback port in front of `127.0.0.1:target`, switched on.
    pub fn start(target: u16) -> Proxy {
        let listener = TcpListener::bind(("127.0.0.1", 0)).expect("bind a loopback port");
        let port = listener.local_addr().expect("address").port();
        let up = Arc::new(AtomicBool::new(true));
        let target = Arc::new(AtomicU16::new(target));
        let open: Arc<Mutex<Vec<TcpStream>>> = Arc::default();
        let (up2, open2, target2) = (up.clone(), open.clone(), target.clone());
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
                pipe(client.try_clone(), server.try_clone());
                pipe(server.try_clone(), client.try_clone());
            }
        });
        Proxy {
            port,
            target,
            up,
            open,
        }
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

fn pipe(from: std::io::Result<TcpStream>, to: std::io::Result<TcpStream>) {
    let (Ok(mut from), Ok(mut to)) = (from, to) else {
        return;
    };
    thread::spawn(move || {
        let mut buf = [0u8; 16 * 1024];
        loop {
            match from.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => {
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
