//! Child processes that stop when this process ends, however it ends (return, panic, Ctrl-C, a
//! kill): each runs under a shell in a process group of its own that waits on its stdin, a pipe
//! only this process holds, and stops the whole group when that pipe closes. The group takes the
//! child's own children too (`cargo lambda watch` starts the functions).

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
            "\"$@\" >>{out} 2>&1 & trap '' TERM; cat >/dev/null; kill -TERM -- -$$ 2>/dev/null; wait"
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

impl Drop for Guarded {
    fn drop(&mut self) {
        drop(self.stdin.take());
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if self.has_ended() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        // Something ignored TERM: the group goes for good.
        let _ = Command::new("kill")
            .args(["-KILL", "--", &format!("-{}", self.child.id())])
            .status();
        let _ = self.child.wait();
    }
}

pub fn shell_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "'\\''"))
}
