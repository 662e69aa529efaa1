"""The checks of `make stack-check`, against a LocalStack that tools/stack-check.sh started.

    .venv/bin/python tools/stack_check.py <endpoint> <LocalStack's log> <work dir> <LocalStack's pid>

Deploys template.yaml as `sam build` left it (.aws-sam/build), twice under two stack names, with
`sam deploy` and parameter overrides only; posts every sample event of events/ through the
first stack's API; reads the table, the notices on a queue subscribed to the topic with the
alert subscription's filter policy, and the logs; invokes the scheduled functions; updates the
first stack and deletes the second. Any failure names the step and the resource, shows the end
of LocalStack's log, and exits non-zero (the shell script then stops LocalStack).
"""

import base64
import hashlib
import ipaddress
import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from contextlib import contextmanager
from pathlib import Path

import boto3
import yaml

ROOT = Path(__file__).resolve().parent.parent
REGION = "eu-south-1"
FIRST, SECOND = "qapla-check-a", "qapla-check-b"
# The demo channel of the sample events (shared/src/fixtures.rs); its entry is computed here as
# `make channel` prints it (name:sha256 of the key), not copied.
DEMO_CHANNEL, DEMO_KEY = "shop-it", "demo-key-shop-it"
# LocalStack's API Gateway gives every request the source address 127.0.0.1, whatever sent it;
# so the first stack allows loopback, and the foreign sender is played by loopback against the
# second stack, whose allowlist leaves loopback out.
LOOPBACK, FOREIGN_ONLY = "127.0.0.1/32", "203.0.113.0/24"
HTTP_TIMEOUT = 60
DEPLOY_TIMEOUT = 420


class Failed(Exception):
    pass


def log(msg: str) -> None:
    print(f"stack-check: {msg}", flush=True)


class Check:
    def __init__(self, endpoint: str, localstack_log: Path, work: Path, pid: int = 0) -> None:
        self.pid = pid
        host = urllib.parse.urlsplit(endpoint).hostname
        if host != "127.0.0.1":  # never anything but the local AWS this script's caller started
            raise SystemExit(f"stack-check: refusing endpoint {endpoint}: loopback only")
        self.endpoint = endpoint
        self.localstack_log = localstack_log
        self.work = work
        self.step_name = "start"
        self.deploys: list[subprocess.Popen] = []
        self.started = time.monotonic()
        config = work / "aws-config"
        # Path-style S3: the endpoint is an address, not a name buckets can be prefixed to.
        config.write_text(f"[default]\nregion = {REGION}\ns3 =\n    addressing_style = path\n")
        self.env = {
            **os.environ,
            "AWS_ACCESS_KEY_ID": "test",
            "AWS_SECRET_ACCESS_KEY": "test",
            "AWS_DEFAULT_REGION": REGION,
            "AWS_REGION": REGION,
            "AWS_ENDPOINT_URL": endpoint,
            "AWS_CONFIG_FILE": str(config),
            "AWS_SHARED_CREDENTIALS_FILE": str(work / "no-credentials"),
            "SAM_CLI_TELEMETRY": "0",
        }
        self.env.pop("AWS_PROFILE", None)
        self.env.pop("AWS_SESSION_TOKEN", None)
        os.environ.update({k: v for k, v in self.env.items() if k.startswith(("AWS_", "SAM_"))})
        os.environ.pop("AWS_PROFILE", None)
        self.session = boto3.session.Session(region_name=REGION)
        self.template = yaml.load((ROOT / "template.yaml").read_text(), Loader=_Loader)

    def client(self, name: str):
        return self.session.client(name, endpoint_url=self.endpoint)

    @contextmanager
    def step(self, name: str, resource: str):
        self.step_name = f"{name} ({resource})"
        began = time.monotonic()
        log(f"{name}: {resource}")
        try:
            yield
        except Failed as e:
            self.fail(str(e))
        except Exception as e:  # noqa: BLE001 (any error of a step is reported the same way)
            self.fail(f"{type(e).__name__}: {e}")
        log(f"  done in {time.monotonic() - began:.1f} s")

    def fail(self, why: str) -> None:
        for deploy in self.deploys:  # a deploy still running when another failed
            if deploy.poll() is None:
                deploy.kill()
                deploy.wait()
        print(f"\nstack-check: FAILED at step {self.step_name}:\n{why}", file=sys.stderr)
        tail = self.localstack_log.read_text(errors="replace").splitlines()[-60:]
        print("\n---- the end of LocalStack's log ----", file=sys.stderr)
        print("\n".join(tail), file=sys.stderr)
        sys.exit(1)

    # ---------------------------------------------------------------- deploy

    def parameters(self, allowed: str, **extra: str) -> list[str]:
        entry = f"{DEMO_CHANNEL}:{hashlib.sha256(DEMO_KEY.encode()).hexdigest()}"
        values = {"Channels": entry, "AllowedSources": allowed, "OpsEmail": "ops@example.com"}
        values.update(extra)
        return [f"{k}={v}" for k, v in values.items()]

    def deploy(self, stack: str, parameters: list[str]) -> dict:
        return self.finish_deploy(stack, self.start_deploy(stack, parameters))

    def start_deploy(self, stack: str, parameters: list[str]) -> subprocess.Popen:
        command = [
            "sam", "deploy",
            "--template-file", str(ROOT / ".aws-sam" / "build" / "template.yaml"),
            "--stack-name", stack,
            "--s3-bucket", self.bucket,
            "--s3-prefix", stack,
            "--capabilities", "CAPABILITY_IAM",
            "--region", REGION,
            "--no-confirm-changeset",
            "--no-fail-on-empty-changeset",
            "--no-progressbar",
            # An empty config of its own: samconfig.toml's resolve_s3 and changeset prompt are
            # for a merchant's account, not for this check.
            "--config-file", str(self.work / "samconfig.toml"),
            "--parameter-overrides", *parameters,
        ]  # fmt: skip
        deploy = subprocess.Popen(
            command, cwd=ROOT, env=self.env, text=True,
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        )  # fmt: skip
        self.deploys.append(deploy)
        return deploy

    def finish_deploy(self, stack: str, deploy: subprocess.Popen) -> dict:
        try:
            out, _ = deploy.communicate(timeout=DEPLOY_TIMEOUT)
        except subprocess.TimeoutExpired:
            deploy.kill()
            deploy.communicate()
            raise Failed(f"sam deploy of {stack} did not end in {DEPLOY_TIMEOUT} s{self.events(stack)}")
        if deploy.returncode != 0:
            tail = "\n".join(out.splitlines()[-40:])
            raise Failed(f"sam deploy of {stack} failed:\n{tail}{self.events(stack)}")
        return self.outputs(stack)

    def events(self, stack: str) -> str:
        """The stack's failed resources with CloudFormation's reasons, if it can say."""
        try:
            events = self.client("cloudformation").describe_stack_events(StackName=stack)
        except Exception as e:  # noqa: BLE001
            return f"\n(no stack events: {e})"
        failed = [
            f"  {e['LogicalResourceId']} ({e['ResourceType']}): {e['ResourceStatus']} "
            f"{e.get('ResourceStatusReason', '')}"
            for e in events["StackEvents"]
            if "FAILED" in e["ResourceStatus"]
        ]
        return "\nfailed resources:\n" + "\n".join(failed[:20]) if failed else ""

    def outputs(self, stack: str) -> dict:
        desc = self.client("cloudformation").describe_stacks(StackName=stack)["Stacks"][0]
        if not desc["StackStatus"].endswith("_COMPLETE") or "ROLLBACK" in desc["StackStatus"]:
            raise Failed(f"{stack} is {desc['StackStatus']}{self.events(stack)}")
        return {o["OutputKey"]: o["OutputValue"] for o in desc.get("Outputs", [])}

    def resource(self, stack: str, logical_id: str) -> str:
        r = self.client("cloudformation").describe_stack_resource(
            StackName=stack, LogicalResourceId=logical_id
        )
        return r["StackResourceDetail"]["PhysicalResourceId"]

    # ---------------------------------------------------------------- requests

    def post(self, url: str, event: dict, event_file: str) -> tuple[int, str]:
        """Sends an API Gateway proxy event's request to the deployed API: the stack's output
        URL, reached through LocalStack's loopback route for that API and stage."""
        parts = urllib.parse.urlsplit(url)
        api = parts.hostname.split(".")[0]
        local = f"{self.endpoint}/_aws/execute-api/{api}{parts.path}"
        body = event.get("body") or ""
        data = base64.b64decode(body) if event.get("isBase64Encoded") else body.encode()
        headers = {
            k: v for k, v in (event.get("headers") or {}).items()
            if k.lower() not in ("host", "content-length")
        }  # fmt: skip
        request = urllib.request.Request(local, data=data, headers=headers, method=event["httpMethod"])
        try:
            with urllib.request.urlopen(request, timeout=HTTP_TIMEOUT) as r:
                return r.status, r.read().decode()
        except urllib.error.HTTPError as e:
            return e.code, e.read().decode()
        except (TimeoutError, urllib.error.URLError) as e:
            raise Failed(f"POST {local} (the request of {event_file}): {e} (timeout {HTTP_TIMEOUT} s)")

    def log_lines(self, group: str) -> list[dict]:
        """The JSON lines of a log group, oldest first."""
        logs = self.client("logs")
        lines, token = [], None
        while True:
            kw = {"logGroupName": group, **({"nextToken": token} if token else {})}
            page = logs.filter_log_events(**kw)
            for e in page["events"]:
                try:
                    lines.append((e["timestamp"], json.loads(e["message"])))
                except (ValueError, TypeError):
                    pass
            token = page.get("nextToken")
            if not token:
                break
        return [line for _, line in sorted(lines, key=lambda x: x[0])]

    # ---------------------------------------------------------------- the run

    def run(self) -> None:
        s3 = self.client("s3")
        self.bucket = "stack-check-artifacts"
        (self.work / "samconfig.toml").write_text("version = 0.1\n")

        with self.step("create the artifact bucket", self.bucket):
            s3.create_bucket(
                Bucket=self.bucket, CreateBucketConfiguration={"LocationConstraint": REGION}
            )

        # Both at once, as two people deploying into one account would: half the wait on two
        # cores, since each deploy mostly waits on LocalStack's resource providers.
        with self.step("start deploying two stacks of the template", f"{FIRST}, {SECOND}"):
            deploying = {
                FIRST: self.start_deploy(FIRST, self.parameters(LOOPBACK)),
                SECOND: self.start_deploy(SECOND, self.parameters(FOREIGN_ONLY)),
            }
        with self.step("deploy the first stack", FIRST):
            first = self.finish_deploy(FIRST, deploying.pop(FIRST))
        with self.step("deploy a second stack of the same template", SECOND):
            second = self.finish_deploy(SECOND, deploying.pop(SECOND))
            if first["TableName"] == second["TableName"]:
                raise Failed("both stacks use one table")

        with self.step("check the schedules of both stacks", "EventBridge Scheduler"):
            self.check_schedules()

        queue_url = None
        with self.step("subscribe a queue to the topic", "the alert subscription's filter policy"):
            queue_url = self.subscribe(first["TopicArn"])

        with self.step("post every sample event", f"{FIRST} API"):
            self.post_events(first, second)

        with self.step("check that every server listens on loopback only", "LocalStack's processes"):
            self.check_loopback()

        with self.step("find the items", first["TableName"]):
            self.check_items(first["TableName"])

        with self.step("find the alert notices", "the subscribed queue"):
            self.check_notices(queue_url)

        for fn in ("DrainFunction", "StuckFunction", "ReconcilerFunction"):
            with self.step("invoke a scheduled function", f"{FIRST} {fn}"):
                self.invoke_scheduled(fn)

        with self.step("update the first stack (AlertStatuses changed)", FIRST):
            self.update_first()

        with self.step("delete the second stack", SECOND):
            self.delete(SECOND)

        log(f"passed in {time.monotonic() - self.started:.0f} s (LocalStack started before)")

    def check_schedules(self) -> None:
        scheduler = self.client("scheduler")
        names = [s["Name"] for s in scheduler.list_schedules(MaxResults=100)["Schedules"]]
        for stack in (FIRST, SECOND):
            for fn, event in (
                ("DrainFunction", "EveryFiveMinutes"),
                ("StuckFunction", "Hourly"),
                ("ReconcilerFunction", "Schedule"),
            ):
                name = self.resource(stack, f"{fn}{event}")
                if name not in names:
                    raise Failed(f"{stack}: schedule {fn}{event} ({name}) not found in {names}")
                target = scheduler.get_schedule(Name=name)["Target"]["Arn"]
                if not target.endswith(f":function:{stack}-{fn.removesuffix('Function').lower()}"):
                    raise Failed(f"{stack}: schedule {name} targets {target}")
        log(f"  {len(names)} schedules: {', '.join(sorted(names))}")

    def subscribe(self, topic_arn: str) -> str:
        sqs, sns = self.client("sqs"), self.client("sns")
        url = sqs.create_queue(QueueName="stack-check-alerts")["QueueUrl"]
        arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"][
            "QueueArn"
        ]
        declared = self.template["Resources"]["AlertEmailSubscription"]["Properties"]
        sns.subscribe(
            TopicArn=topic_arn,
            Protocol="sqs",
            Endpoint=arn,
            Attributes={
                "FilterPolicy": json.dumps(declared["FilterPolicy"]),
                "FilterPolicyScope": declared["FilterPolicyScope"],
            },
        )
        return url

    def post_events(self, first: dict, second: dict) -> None:
        expected = json.loads((ROOT / "events" / "expected.json").read_text())
        urls = {
            "shipments": "ShipmentsWebhookUrl",
            "returns": "ReturnsWebhookUrl",
            "orders": "OrdersWebhookUrl",
        }
        sent: dict[str, list[dict]] = {}
        wrong = []
        for case in expected:
            event = json.loads((ROOT / "events" / case["event"]).read_text())
            foreign = case["event"] == "shipments/foreign-ip.json"
            stack, outputs = (SECOND, second) if foreign else (FIRST, first)
            status, body = self.post(outputs[urls[case["function"]]], event, case["event"])
            ok = body.strip() == '{"result":"OK"}'
            shown = f"{case['event']} → {stack}: {status} {body.strip()}"
            log(f"  {shown}")
            if status != case["status"] or ok != (case["status"] == 200):
                wrong.append(f"{shown}, expected {case['status']}")
            sent.setdefault(f"{stack}-{case['function']}", []).append(case)
        # Each answer's logged outcome, from the deployed function's log group, in order.
        # LocalStack stores the logs a moment after each answer: read until all are there.
        for function_stack, cases in sent.items():
            group = f"/aws/lambda/{function_stack}"
            want = [(c["status"], c["outcome"]) for c in cases]
            deadline = time.monotonic() + 15
            while True:
                got = [
                    (line.get("status"), line.get("outcome"))
                    for line in self.log_lines(group)
                    if isinstance(line, dict) and line.get("message") == "delivery"
                ]
                if got == want or time.monotonic() > deadline:
                    break
                time.sleep(0.5)
            if got != want:
                wrong.append(f"{group}: outcomes {got}, expected {want}")
        if wrong:
            raise Failed("answers that differ from events/expected.json:\n" + "\n".join(wrong))
        self.expected = expected

    def check_items(self, table: str) -> None:
        dynamodb = self.client("dynamodb")
        items, start = [], None
        while True:
            page = dynamodb.scan(TableName=table, **({"ExclusiveStartKey": start} if start else {}))
            items += page["Items"]
            start = page.get("LastEvaluatedKey")
            if not start:
                break
        states = {}
        for item in items:
            if item["sk"]["S"] == "STATE":
                kind = item["pk"]["S"].split("#")[0]
                states.setdefault(kind, []).append(item)
        tracking = {i.get("trackingNumber", {}).get("S") for i in states.get("SHIPMENT", [])}
        references = {i.get("reference", {}).get("S") for i in states.get("ORDER", [])}
        missing = []
        for case in self.expected:
            if case["outcome"] != "stored":
                continue
            body = json.loads(
                json.loads((ROOT / "events" / case["event"]).read_text())["body"]
            )
            if "trackingNumber" in body and body["trackingNumber"] not in tracking:
                missing.append(f"{case['event']}: no state of {body['trackingNumber']}")
            for order in body.get("orders", []):
                if order["reference"] not in references:
                    missing.append(f"{case['event']}: no order {order['reference']}")
        returns = sum(
            1 for c in self.expected if c["function"] == "returns" and c["outcome"] == "stored"
        )
        if len(states.get("RETURN", [])) < returns:
            missing.append(f"{len(states.get('RETURN', []))} returns, expected {returns}")
        if missing:
            raise Failed("\n".join(missing))
        log(
            f"  {len(items)} items; states: "
            + ", ".join(f"{k} {len(v)}" for k, v in sorted(states.items()))
        )

    def check_notices(self, queue_url: str) -> None:
        """The alerts that the stream, the notifier and the topic deliver: one per stored
        shipment event whose status is among AlertStatuses (the template's default)."""
        rules = str(self.template["Parameters"]["AlertStatuses"]["Default"]).split(",")
        want = set()
        for case in self.expected:
            if case["function"] != "shipments" or case["outcome"] != "stored":
                continue
            body = json.loads(json.loads((ROOT / "events" / case["event"]).read_text())["body"])
            status = str(body.get("qaplaStatusID"))
            details = [str(d.get("id")) for d in body.get("statusDetails") or [] if isinstance(d, dict)]
            # A rule is an id, or id/detail for one detail of it.
            if any(r == status or r in (f"{status}/{d}" for d in details) for r in rules):
                want.add((body["trackingNumber"], status))
        sqs = self.client("sqs")
        got: set = set()
        deadline = time.monotonic() + 60
        while got != want and time.monotonic() < deadline:
            for m in sqs.receive_message(
                QueueUrl=queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=2,
                MessageAttributeNames=["All"],
            ).get("Messages", []):  # fmt: skip
                envelope = json.loads(m["Body"])
                notice = json.loads(envelope["Message"])
                got.add(_tracking_and_status(notice))
                sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=m["ReceiptHandle"])
        if got != want:
            raise Failed(f"alert notices {sorted(got)}, expected {sorted(want)}")
        log(f"  {len(got)} alert notices: {sorted(got)}")

    def check_loopback(self) -> None:
        """Every listening TCP socket of LocalStack and what it started (DynamoDB Local, the
        stream emulator, the functions' Runtime APIs) is on a loopback address."""
        pids = _tree(self.pid)
        inodes = {}
        for pid in pids:
            try:
                for fd in Path(f"/proc/{pid}/fd").iterdir():
                    target = os.readlink(fd)
                    if target.startswith("socket:["):
                        inodes[target[8:-1]] = pid
            except OSError:
                continue  # gone meanwhile
        found, outside = 0, []
        for table in ("/proc/net/tcp", "/proc/net/tcp6"):
            for row in Path(table).read_text().splitlines()[1:]:
                cols = row.split()
                if cols[3] != "0A" or cols[9] not in inodes:  # 0A: LISTEN
                    continue
                address, port = _address(cols[1])
                found += 1
                mapped = getattr(address, "ipv4_mapped", None)  # ::ffff:127.0.0.1 (Java's)
                if not (address.is_loopback or (mapped and mapped.is_loopback)):
                    cmd = Path(f"/proc/{inodes[cols[9]]}/cmdline").read_bytes().replace(b"\0", b" ")
                    outside.append(f"{address}:{port} ({cmd.decode(errors='replace')[:120]})")
        if outside:
            raise Failed("listening beyond loopback:\n" + "\n".join(outside))
        if found < 3:  # the gateway, DynamoDB Local, the stream emulator at least
            raise Failed(f"only {found} listening sockets found in LocalStack's {len(pids)} processes")
        log(f"  {found} listening sockets in {len(pids)} processes, all on loopback")

    def invoke_scheduled(self, logical_id: str) -> None:
        name = self.resource(FIRST, logical_id)
        answer = self.client("lambda").invoke(FunctionName=name, Payload=b"{}")
        payload = answer["Payload"].read().decode()
        if answer.get("FunctionError"):
            raise Failed(f"{name}: {answer['FunctionError']}: {payload[:2000]}")
        log(f"  {name}: {payload[:200] or '(no payload)'}")

    def update_first(self) -> None:
        changed = "5,8,6,4"
        self.deploy(FIRST, self.parameters(LOOPBACK, AlertStatuses=changed))
        name = self.resource(FIRST, "NotifierFunction")
        env = self.client("lambda").get_function_configuration(FunctionName=name)["Environment"]
        if env["Variables"].get("QAPLA_ALERT_STATUSES") != changed:
            raise Failed(f"{name}: QAPLA_ALERT_STATUSES is {env['Variables']} after the update")

    def delete(self, stack: str) -> None:
        cf = self.client("cloudformation")
        cf.delete_stack(StackName=stack)
        deadline = time.monotonic() + DEPLOY_TIMEOUT
        while time.monotonic() < deadline:
            try:
                status = cf.describe_stacks(StackName=stack)["Stacks"][0]["StackStatus"]
            except cf.exceptions.ClientError:
                return  # gone
            if status == "DELETE_COMPLETE":
                return
            if status.endswith("FAILED"):
                raise Failed(f"{stack} is {status}{self.events(stack)}")
            time.sleep(1)
        raise Failed(f"{stack} not deleted in {DEPLOY_TIMEOUT} s")


def _tree(root: int) -> list[int]:
    """A process and all its descendants, from /proc."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    out, todo = [], [root]
    while todo:
        pid = todo.pop()
        out.append(pid)
        todo += children.get(pid, [])
    return out


def _address(hex_address: str) -> tuple:
    """/proc/net/tcp's address:port (the address in the kernel's 32-bit little-endian words)."""
    host, port = hex_address.split(":")
    raw = bytes.fromhex(host)
    raw = b"".join(raw[i : i + 4][::-1] for i in range(0, len(raw), 4))
    return ipaddress.ip_address(raw), int(port, 16)


def _tracking_and_status(notice: dict) -> tuple:
    shipment = notice.get("shipment", notice)
    status = shipment.get("status", {})
    return (
        shipment.get("trackingNumber"),
        str(status.get("id") if isinstance(status, dict) else shipment.get("statusId")),
    )


class _Loader(yaml.SafeLoader):
    """Reads the template's short-form intrinsic functions (!Ref, !Sub…) as plain values."""


_Loader.add_multi_constructor(
    "!",
    lambda loader, tag, node: (
        loader.construct_scalar(node) if isinstance(node, yaml.ScalarNode)
        else loader.construct_sequence(node) if isinstance(node, yaml.SequenceNode)
        else loader.construct_mapping(node)
    ),
)  # fmt: skip


if __name__ == "__main__":
    if len(sys.argv) != 5:
        sys.exit(__doc__)
    Check(sys.argv[1], Path(sys.argv[2]), Path(sys.argv[3]), int(sys.argv[4])).run()
