//! Child processes that stop when this process ends, however it ends (return, panic, Ctrl-C, a
//! kill): each runs under a shell in a process group of its own that waits on its stdin, a pipe
//! only this process holds, and stops the whole group when that pipe closes. The group takes the
//! child's own children too (`cargo lambda watch` starts the functions).

use std::io::{Read, Write};
use std::net::{IpAddr, TcpStream};
use std::path::Path;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::time::{Duration, Instant};

pub struct Guarded {
    child: Child,
    stdin: Option<ChildStdin>,
}

impl Guarded {
    /// Starts `program` with `args` and the extra environment `envs`, its output appended to
    /// `log` (or dropped).
    pub fn spawn(
        program: &str,
        args: &[String],
        envs: &[(String, String)],
        log: Option<&Path>,
    ) -> Result<Guarded, String> {
        // The shell ignores TERM only after starting the child, so the child still obeys it,
        // and the shell outlives the kill to reap the child.
        let out = match log {
            Some(path) => shell_quote(&path.display().to_string()),
            None => "/dev/null".to_owned(),
        };
        let script = format!(
            "\"$@\" >>{out} 2>&1 & trap '' TERM; cat >/dev/null; kill -TERM -$$ 2>/dev/null; wait"
        );
        let mut command = Command::new("sh");
        command
            .arg("-c")
            .arg(script)
            .arg("sh")
            .arg(program)
            .args(args)
            .envs(envs.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        std::os::unix::process::CommandExt::process_group(&mut command, 0);
        let mut child = command
            .spawn()
            .map_err(|e| format!("cannot start {program}: {e}"))?;
        let stdin = child.stdin.take();
        Ok(Guarded { child, stdin })
    }

    /// Whether it has already ended (it failed to start, for one).
    pub fn has_ended(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(Some(_)))
    }
}

impl Guarded {
    /// Stops the group: TERM, then KILL if it is still there after 10 s. Whether TERM did it.
    fn stop(&mut self) -> bool {
        drop(self.stdin.take());
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if self.has_ended() {
                return true;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        // Something ignored TERM: the group goes for good.
        let _ = Command::new("kill")
            .args(["-KILL", "--", &format!("-{}", self.child.id())])
            .status();
        let _ = self.child.wait();
        false
    }
}

impl Drop for Guarded {
    fn drop(&mut self) {
        self.stop();
    }
}

/// How long a server may take to start: a safety net against one that hangs, generous enough
/// for a JVM or a Python server starting on a busy 2-core machine.
const START: Duration = Duration::from_secs(300);

/// Waits until the server `name` started as `process` answers HTTP on `host:port` (any status:
/// an answer at all), or fails naming it if it stopped or never answered.
pub fn wait_http(
    process: &mut Guarded,
    name: &str,
    host: IpAddr,
    port: u16,
    path: &str,
) -> Result<(), String> {
    wait(process, name, host, port, |stream| {
        let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
        let request = format!("GET {path} HTTP/1.0\r\nHost: {host}\r\n\r\n");
        let mut head = [0u8; 12];
        stream.write_all(request.as_bytes()).is_ok()
            && stream.read_exact(&mut head).is_ok()
            && head.starts_with(b"HTTP/1.")
    })
}

/// Waits until the server accepts connections (one that speaks TLS, say).
pub fn wait_listening(
    process: &mut Guarded,
    name: &str,
    host: IpAddr,
    port: u16,
) -> Result<(), String> {
    wait(process, name, host, port, |_| true)
}

fn wait(
    process: &mut Guarded,
    name: &str,
    host: IpAddr,
    port: u16,
    ready: impl Fn(&mut TcpStream) -> bool,
) -> Result<(), String> {
    let started = Instant::now();
    loop {
        if let Ok(mut stream) = TcpStream::connect((host, port)) {
            if ready(&mut stream) {
                return Ok(());
            }
        }
        if process.has_ended() {
            return Err(format!("{name} on {host}:{port} stopped at its start"));
        }
        if started.elapsed() >= START {
            return Err(format!(
                "{name} did not answer on {host}:{port} within {} s",
                START.as_secs()
            ));
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

pub fn shell_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "'\\''"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dropping_the_guard_stops_the_child_and_its_children_at_once() {
        let dir = std::env::temp_dir().join(format!("qapla-guard-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let pids = dir.join("pids");
        // A child with a child of its own, as cargo lambda watch has.
        let script = format!(
            "sleep 300 & echo $! > {0}.tmp; echo $$ >> {0}.tmp; mv {0}.tmp {0}; wait",
            shell_quote(&pids.display().to_string())
        );
        let mut guard = Guarded::spawn("sh", &["-c".into(), script], &[], None).expect("spawn");
        let deadline = Instant::now() + Duration::from_secs(10);
        while !pids.exists() {
            assert!(Instant::now() < deadline, "the child did not start");
            std::thread::sleep(Duration::from_millis(20));
        }
        let pids: Vec<String> = std::fs::read_to_string(&pids)
            .expect("pids")
            .split_whitespace()
            .map(str::to_owned)
            .collect();
        assert_eq!(pids.len(), 2);
        assert!(
            guard.stop(),
            "TERM did not stop them: the guard resorted to KILL"
        );
        drop(guard);
        let started = Instant::now();
        for pid in pids {
            // Gone, or a zombie waiting for its parent to reap it. A grandchild handles the
            // signal on its own time, after the guard has reaped its child: a busy machine may
            // show it running for a moment, so it gets until the guard's KILL would come.
            let stopped = || {
                let state =
                    std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
                (state.is_empty() || state.contains(") Z"), state)
            };
            let mut seen = stopped();
            while !seen.0 && started.elapsed() < Duration::from_secs(5) {
                std::thread::sleep(Duration::from_millis(20));
                seen = stopped();
            }
            assert!(seen.0, "{pid} still runs: {}", seen.1);
        }
        let _ = std::fs::remove_dir_all(&dir);
    }
}
