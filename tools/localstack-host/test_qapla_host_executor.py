"""Tests of the host runtime executor against small fake bootstraps (Python scripts speaking
the Lambda Runtime API). Run under .venv-localstack: tools/stack-check.sh runs them first."""

import os
import stat
import sys
import tempfile
import textwrap
import time
import unittest
from pathlib import Path
from types import SimpleNamespace

from localstack.services.lambda_.invocation.runtime_executor import LambdaRuntimeException

import qapla_host_executor as host

# A bootstrap that answers each event with {"echo": <event>, "pid": ...} after logging a line;
# the event {"fail": true} gets an error, {"sleep": s} sleeps first.
ECHO = """
import json, os, sys, time, urllib.request
api = "http://" + os.environ["AWS_LAMBDA_RUNTIME_API"] + "/2018-06-01/runtime/invocation/"
print("init", os.environ.get("MARK", ""), flush=True)
while True:
    with urllib.request.urlopen(api + "next") as r:
        rid = r.headers["Lambda-Runtime-Aws-Request-Id"]
        event = json.loads(r.read())
    time.sleep(event.get("sleep", 0))
    if event.get("crash"):
        raise SystemExit(9)
    print("handled", rid, flush=True)
    kind = "error" if event.get("fail") else "response"
    body = json.dumps({"echo": event, "pid": os.getpid()}).encode()
    urllib.request.urlopen(urllib.request.Request(api + rid + "/" + kind, data=body, method="POST"))
    print("after", rid, flush=True)
"""
DIES = 'print("cannot read TABLE_NAME", flush=True)\nraise SystemExit(3)\n'
INIT_ERROR = """
import os, urllib.request
api = "http://" + os.environ["AWS_LAMBDA_RUNTIME_API"] + "/2018-06-01/runtime/init/error"
urllib.request.urlopen(urllib.request.Request(api, data=b'{"errorType":"Config"}', method="POST"))
"""


class Executor(unittest.TestCase):
    def executor(self, script: str, arch: str = host.HOST_ARCH, timeout: int = 5):
        code = Path(tempfile.mkdtemp())
        self.addCleanup(lambda: __import__("shutil").rmtree(code, ignore_errors=True))
        bootstrap = code / "bootstrap"
        bootstrap.write_text(f"#!{sys.executable}\n" + textwrap.dedent(script))
        bootstrap.chmod(stat.S_IRUSR | stat.S_IWUSR)  # as unzip may leave it: not executable
        version = SimpleNamespace(
            id="arn:aws:lambda:eu-south-1:000000000000:function:test:$LATEST",
            config=SimpleNamespace(
                code=SimpleNamespace(get_unzipped_code_location=lambda: code),
                architectures=[arch],
                timeout=timeout,
            ),
        )
        executor = host.HostRuntimeExecutor("env1", version)
        self.addCleanup(executor.stop)
        return executor

    def invoke(self, executor, event: str, rid: str = "r1"):
        return executor.invoke(
            {"invoke-id": rid, "invoked-function-arn": "arn", "payload": event, "trace-id": "t"}
        )

    def test_invocations_reach_one_process_with_the_environment_and_their_own_logs(self):
        ex = self.executor(ECHO)
        ex.start({"MARK": "from-localstack"})
        first = self.invoke(ex, '{"n": 1}', "r1")
        second = self.invoke(ex, '{"n": 2}', "r2")
        self.assertFalse(first.is_error)
        self.assertEqual(__import__("json").loads(first.payload)["echo"], {"n": 1})
        pids = {__import__("json").loads(r.payload)["pid"] for r in (first, second)}
        self.assertEqual(len(pids), 1, "one process serves both invocations")
        self.assertIn("handled r1", first.logs)
        self.assertNotIn("handled r1", second.logs)
        self.assertIn("handled r2", second.logs)
        self.assertIn("init from-localstack", ex.get_logs())
        # A line written after the answer is not lost: it goes with this invocation or the next.
        self.assertIn("after r1", first.logs + second.logs)

    def test_an_error_answer_is_an_error_result(self):
        ex = self.executor(ECHO)
        ex.start({})
        self.assertTrue(self.invoke(ex, '{"fail": true}').is_error)

    def test_a_bootstrap_that_dies_at_start_fails_the_start_with_its_output(self):
        ex = self.executor(DIES)
        with self.assertRaisesRegex(LambdaRuntimeException, "exited with 3.*cannot read TABLE_NAME"):
            ex.start({})

    def test_an_init_error_fails_the_start(self):
        ex = self.executor(INIT_ERROR)
        with self.assertRaisesRegex(LambdaRuntimeException, "init error.*Config"):
            ex.start({})

    def test_a_timeout_raises_and_stop_leaves_no_process(self):
        ex = self.executor(ECHO, timeout=1)
        ex.start({})
        started = time.monotonic()
        with self.assertRaisesRegex(LambdaRuntimeException, "timed out after 1.00 seconds"):
            self.invoke(ex, '{"sleep": 30}')
        self.assertLess(time.monotonic() - started, 5)
        ex.stop()
        self.assertIsNotNone(ex.process.poll())

    def test_a_crash_during_an_invocation_fails_it_at_once(self):
        ex = self.executor(ECHO, timeout=30)
        ex.start({})
        started = time.monotonic()
        with self.assertRaisesRegex(LambdaRuntimeException, "exited with 9 during"):
            self.invoke(ex, '{"crash": true}')
        self.assertLess(time.monotonic() - started, 5)

    def test_a_foreign_architecture_needs_its_runner(self):
        foreign = "arm64" if host.HOST_ARCH == "x86_64" else "x86_64"
        variable = f"QAPLA_HOST_RUNNER_{foreign.upper()}"
        os.environ.pop(variable, None)
        with self.assertRaisesRegex(LambdaRuntimeException, variable):
            self.executor(ECHO, arch=foreign).start({})
        # The runner prefixes the command: here `env`, which runs the script as the host would.
        os.environ[variable] = "env MARK=through-the-runner"
        self.addCleanup(os.environ.pop, variable)
        ex = self.executor(ECHO, arch=foreign)
        ex.start({})
        self.assertFalse(self.invoke(ex, "{}").is_error)
        self.assertIn("init through-the-runner", ex.get_logs())


if __name__ == "__main__":
    unittest.main()
