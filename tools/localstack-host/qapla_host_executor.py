"""A LocalStack Lambda runtime executor that runs a function's `bootstrap` as a host process.

LocalStack's own executor runs each function in a Docker container made from AWS's base images
and an init binary it downloads; `make stack-check` has neither Docker images nor the internet.
This executor is the part of that container that matters for a custom runtime
(`provided.al2023`): a Lambda Runtime API on loopback, and the `bootstrap` from the deployed zip
started against it with the environment LocalStack computed for the function. Selected with
`LAMBDA_RUNTIME_EXECUTOR=qapla-host` (the plugin entry point in pyproject.toml).

What it does not do, on purpose: no sandbox (the process is the host user's), no memory limit,
no layers or container images, no freeze between invocations. An arm64 bootstrap on an x86_64
host runs under the command in `QAPLA_HOST_RUNNER_ARM64` (qemu-user), so what runs is the
binary a merchant deploys.
"""

from __future__ import annotations

import logging
import os
import platform
import queue
import shlex
import subprocess
import threading
import time
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from localstack.services.lambda_.invocation.lambda_models import FunctionVersion, InvocationResult
from localstack.services.lambda_.invocation.plugins import RuntimeExecutorPlugin
from localstack.services.lambda_.invocation.runtime_executor import (
    LambdaRuntimeException,
    RuntimeExecutor,
)

LOG = logging.getLogger(__name__)

API = "/2018-06-01/runtime"
HOST_ARCH = {"x86_64": "x86_64", "amd64": "x86_64", "aarch64": "arm64", "arm64": "arm64"}.get(
    platform.machine().lower(), platform.machine()
)


def runner_for(architecture: str) -> list[str]:
    """The command prefix for a bootstrap of `architecture`: none on its own kind of host, else
    `QAPLA_HOST_RUNNER_<ARCH>` (an emulator), refused when unset rather than failing obscurely."""
    if architecture == HOST_ARCH:
        return []
    runner = os.environ.get(f"QAPLA_HOST_RUNNER_{architecture.upper()}", "").strip()
    if not runner:
        raise LambdaRuntimeException(
            f"an {architecture} bootstrap on an {HOST_ARCH} host needs "
            f"QAPLA_HOST_RUNNER_{architecture.upper()} (an emulator such as qemu-user)"
        )
    return shlex.split(runner)


class RuntimeApi(ThreadingHTTPServer):
    """The Lambda Runtime API for one bootstrap: `next` hands out one invocation at a time,
    `response` and `error` settle it, `init/error` fails the start."""

    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.invocations: queue.Queue[dict | None] = queue.Queue()
        self.pending: dict[str, Future] = {}
        self.ready = threading.Event()
        self.init_error: bytes | None = None

    def settle(self, request_id: str, body: bytes, is_error: bool) -> bool:
        future = self.pending.pop(request_id, None)
        if future is None:
            return False
        future.set_result((body, is_error))
        return True


class _Handler(BaseHTTPRequestHandler):
    server: RuntimeApi
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args) -> None:  # noqa: A002 (the base class's name)
        LOG.debug("runtime api: " + format, *args)

    def _answer(self, status: int, body: bytes = b"{}", headers: dict | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        if self.path != f"{API}/invocation/next":
            return self._answer(404)
        self.server.ready.set()
        invocation = self.server.invocations.get()
        if invocation is None:  # stopping: the bootstrap is killed next
            return self._answer(410)
        self._answer(
            200,
            invocation["payload"].encode(),
            {
                "Lambda-Runtime-Aws-Request-Id": invocation["invoke-id"],
                "Lambda-Runtime-Deadline-Ms": str(invocation["deadline-ms"]),
                "Lambda-Runtime-Invoked-Function-Arn": invocation["invoked-function-arn"],
                "Lambda-Runtime-Trace-Id": invocation.get("trace-id") or "",
            },
        )

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        parts = self.path.removeprefix(f"{API}/").split("/")
        if parts == ["init", "error"]:
            self.server.init_error = body
            self.server.ready.set()
            return self._answer(202)
        if len(parts) == 3 and parts[0] == "invocation" and parts[2] in ("response", "error"):
            if self.server.settle(parts[1], body, parts[2] == "error"):
                return self._answer(202)
            return self._answer(400, b'{"errorType":"InvalidRequestID"}')
        self._answer(404)


class HostRuntimeExecutor(RuntimeExecutor):
    def __init__(self, id: str, function_version: FunctionVersion) -> None:
        super().__init__(id=id, function_version=function_version)
        self.api: RuntimeApi | None = None
        self.process: subprocess.Popen | None = None
        self.lines: list[str] = []  # the process's output not yet handed to an invocation
        self.all_lines: list[str] = []
        self.last_output = 0.0
        self.lock = threading.Lock()

    def _code_dir(self) -> Path:
        return Path(self.function_version.config.code.get_unzipped_code_location())

    def _read_output(self, stream) -> None:
        for raw in iter(stream.readline, b""):
            line = raw.decode(errors="replace")
            with self.lock:
                self.lines.append(line)
                self.all_lines.append(line)
                self.last_output = time.monotonic()

    def start(self, env_vars: dict[str, str]) -> None:
        self.api = RuntimeApi()
        threading.Thread(target=self.api.serve_forever, daemon=True).start()
        code = self._code_dir()
        bootstrap = code / "bootstrap"
        if not bootstrap.is_file():
            raise LambdaRuntimeException(f"no bootstrap in the code of {self.function_version.id}")
        bootstrap.chmod(0o755)  # unzip keeps no modes when the zip carries none
        env = {k: str(v) for k, v in env_vars.items()}
        env["AWS_LAMBDA_RUNTIME_API"] = f"127.0.0.1:{self.api.server_address[1]}"
        env["LAMBDA_TASK_ROOT"] = str(code)
        env["PATH"] = os.environ.get("PATH", "/usr/bin:/bin")
        command = runner_for(self.function_version.config.architectures[0]) + [str(bootstrap)]
        self.process = subprocess.Popen(
            command,
            cwd=code,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        threading.Thread(target=self._read_output, args=(self.process.stdout,), daemon=True).start()
        # Ready when the bootstrap first asks for an invocation; fail at once if it dies first.
        while not self.api.ready.wait(0.05):
            if self.process.poll() is not None:
                raise LambdaRuntimeException(
                    f"bootstrap exited with {self.process.returncode} before asking for an "
                    f"invocation: {self.get_logs()[-2000:]}"
                )
        if self.api.init_error is not None:
            raise LambdaRuntimeException(f"bootstrap init error: {self.api.init_error[:2000]!r}")

    def invoke(self, payload: dict[str, str]) -> InvocationResult:
        request_id = payload["invoke-id"]
        timeout = float(self.function_version.config.timeout)
        future: Future = Future()
        self.api.pending[request_id] = future
        self.api.invocations.put(
            {**payload, "deadline-ms": int((time.time() + timeout) * 1000)}
        )
        # Waits in slices so that a bootstrap that crashes mid-invocation fails it at once.
        # Raising makes LocalStack stop this environment: as on Lambda, none outlives a
        # timed-out or crashed invocation.
        started = time.monotonic()
        while True:
            try:
                body, is_error = future.result(timeout=0.1)
                break
            except FutureTimeout:
                if self.process.poll() is not None:
                    self.api.pending.pop(request_id, None)
                    raise LambdaRuntimeException(
                        f"bootstrap exited with {self.process.returncode} during the "
                        f"invocation: {self.get_logs()[-2000:]}"
                    )
                if time.monotonic() - started > timeout:
                    self.api.pending.pop(request_id, None)
                    raise LambdaRuntimeException(f"Task timed out after {timeout:.2f} seconds")
        # A line written just before or after the answer may still be in the pipe: wait for
        # 50 ms of quiet (at most half a second) so it lands with this invocation's logs. A
        # line later still goes with the next invocation's: none is dropped.
        settled = time.monotonic()
        while (
            time.monotonic() - max(settled, self.last_output) < 0.05
            and time.monotonic() - settled < 0.5
        ):
            time.sleep(0.01)
        with self.lock:
            logs, self.lines = "".join(self.lines), []
        return InvocationResult(request_id, body, is_error=is_error, logs=logs)

    def stop(self) -> None:
        if self.api is not None:
            self.api.invocations.put(None)
            self.api.shutdown()
            self.api.server_close()
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=3)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if self.process is not None and self.process.stdout is not None:
            self.process.stdout.close()

    def get_address(self) -> str:
        return "127.0.0.1"

    def get_endpoint_from_executor(self) -> str:
        # The bootstrap runs on the host: LocalStack (AWS_ENDPOINT_URL) is on loopback.
        return "127.0.0.1"

    def get_runtime_endpoint(self) -> str:
        port = self.api.server_address[1] if self.api else 0
        return f"http://127.0.0.1:{port}"

    def get_logs(self) -> str:
        with self.lock:
            return "".join(self.all_lines)

    @classmethod
    def prepare_version(cls, function_version: FunctionVersion) -> None:
        if function_version.config.code:
            function_version.config.code.prepare_for_execution()
        runner_for(function_version.config.architectures[0])  # refuse early, with the reason

    @classmethod
    def cleanup_version(cls, function_version: FunctionVersion) -> None:
        pass


class HostRuntimeExecutorPlugin(RuntimeExecutorPlugin):
    name = "qapla-host"

    def load(self, *args, **kwargs):
        return HostRuntimeExecutor
