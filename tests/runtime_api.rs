//! A Lambda Runtime API of our own on loopback, enough to run a function binary as Lambda
//! would: `GET /2018-06-01/runtime/invocation/next` hands out queued events, `POST
//! .../invocation/<id>/response` (or `/error`) hands back the answer. For cold-start and memory
//! measurements of the real binaries.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::mpsc::{channel, Receiver, Sender};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

/// One finished invocation.
#[derive(Debug, Clone)]
pub struct Answer {
    pub body: String,
    pub error: bool,
    pub at: Instant,
}

pub struct RuntimeApi {
    pub port: u16,
    /// When the first `invocation/next` arrived: the end of the function's init.
    first_next: Arc<Mutex<Option<Instant>>>,
    events: Sender<(String, String)>,
    answers: Receiver<Answer>,
    next_id: u64,
}

impl RuntimeApi {
    pub fn start() -> RuntimeApi {
        let listener = TcpListener::bind(("127.0.0.1", 0)).expect("bind a loopback port");
        let port = listener.local_addr().expect("address").port();
        let (events_tx, events_rx) = channel::<(String, String)>();
        let (answers_tx, answers_rx) = channel::<Answer>();
        let events_rx = Arc::new(Mutex::new(events_rx));
        let first_next: Arc<Mutex<Option<Instant>>> = Arc::default();
        let first = first_next.clone();
        // Serves until the process ends; loopback only.
        thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let events = events_rx.clone();
                let answers = answers_tx.clone();
                let first = first.clone();
                thread::spawn(move || serve(stream, &events, &answers, &first));
            }
        });
        RuntimeApi {
            port,
            first_next,
            events: events_tx,
            answers: answers_rx,
            next_id: 0,
        }
    }

    /// The value of `AWS_LAMBDA_RUNTIME_API`.
    pub fn address(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// Queues an event for the next `invocation/next`.
    pub fn invoke(&mut self, event: String) {
        self.next_id += 1;
        let id = format!("bench-{}", self.next_id);
        let _ = self.events.send((id, event));
    }

    /// When the function first asked for an invocation (its init was over), if it has.
    pub fn init_done(&self) -> Option<Instant> {
        *self.first_next.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Waits for the next answer.
    pub fn answer(&self, timeout: Duration) -> Option<Answer> {
        self.answers.recv_timeout(timeout).ok()
    }
}

fn serve(
    stream: TcpStream,
    events: &Mutex<Receiver<(String, String)>>,
    answers: &Sender<Answer>,
    first_next: &Mutex<Option<Instant>>,
) {
    let Ok(write_half) = stream.try_clone() else {
        return;
    };
    let mut reader = BufReader::new(stream);
    let mut writer = write_half;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 {
            return;
        }
        let mut parts = line.split_whitespace();
        let (method, path) = (
            parts.next().unwrap_or("").to_owned(),
            parts.next().unwrap_or("").to_owned(),
        );
        let mut headers = HashMap::new();
        loop {
            let mut h = String::new();
            if reader.read_line(&mut h).unwrap_or(0) == 0 {
                return;
            }
            let h = h.trim_end();
            if h.is_empty() {
                break;
            }
            if let Some((k, v)) = h.split_once(':') {
                headers.insert(k.trim().to_ascii_lowercase(), v.trim().to_owned());
            }
        }
        let length: usize = headers
            .get("content-length")
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        let mut body = vec![0u8; length];
        if reader.read_exact(&mut body).is_err() {
            return;
        }
        let reply = if method == "GET" && path.ends_with("/runtime/invocation/next") {
            first_next
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .get_or_insert_with(Instant::now);
            let next = events.lock().unwrap_or_else(|e| e.into_inner()).recv();
            let Ok((id, event)) = next else {
                return;
            };
            let deadline = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_millis() + 30_000)
                .unwrap_or_default();
            format!(
                "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nLambda-Runtime-Aws-Request-Id: {id}\r\n\
                 Lambda-Runtime-Deadline-Ms: {deadline}\r\n\
                 Lambda-Runtime-Invoked-Function-Arn: arn:aws:lambda:eu-south-1:123456789012:function:bench\r\n\
                 Lambda-Runtime-Trace-Id: Root=1-00000000-000000000000000000000000\r\n\
                 Content-Length: {}\r\n\r\n{event}",
                event.len()
            )
        } else {
            if method == "POST" && path.contains("/runtime/invocation/") {
                let _ = answers.send(Answer {
                    body: String::from_utf8_lossy(&body).into_owned(),
                    error: path.ends_with("/error"),
                    at: Instant::now(),
                });
            } else if path.ends_with("/runtime/init/error") {
                let _ = answers.send(Answer {
                    body: String::from_utf8_lossy(&body).into_owned(),
                    error: true,
                    at: Instant::now(),
                });
            }
            "HTTP/1.1 202 Accepted\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}"
                .to_owned()
        };
        if writer.write_all(reply.as_bytes()).is_err() {
            return;
        }
    }
}
