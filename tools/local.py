"""The local stack: no AWS account, no Docker.

Starts moto on a free loopback port as the local DynamoDB, streams, SNS and SQS; creates the table,
topic and two subscriber queues exactly as template.yaml declares them (one unfiltered, one with the
alert filter policy of the email and SMS subscriptions); serves the four functions with
`cargo lambda watch` on loopback; replays events/ through them; prints each answer, the table, and
the notifications each change produced (the JSON subscribers get, and the email and SMS texts).
Then, from a terminal, it keeps serving the three webhook URLs for curl until Ctrl-C; otherwise it
exits after the replay. Every process it starts is stopped when it exits.

Run it with `make local`.
"""

import hashlib
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import boto3
import yaml

ROOT = Path(__file__).resolve().parent.parent
REGION = "eu-south-1"
TABLE = "qapla-webhooks"
DEMO_KEY = "demo-key-shop-it"
QAPLA_SOURCES = [
    "34.96.89.1/32", "35.195.3.242/32", "35.205.84.188/32", "35.205.236.254/32",
    "34.78.56.172/32", "35.195.153.127/32", "35.205.146.223/32", "35.195.158.219/32",
]
CHILDREN = []


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_http(url, seconds, what):
    deadline = time.time() + seconds
    while time.time() < deadline:
        try:
            urllib.request.urlopen(url, timeout=2)
            return
        except urllib.error.HTTPError:
            return  # it answers
        except Exception:
            time.sleep(0.3)
    sys.exit(f"local: {what} did not answer at {url} within {seconds} s")


def start(cmd, env=None, log=None):
    proc = subprocess.Popen(cmd, env=env, stdout=log or subprocess.DEVNULL,
                            stderr=subprocess.STDOUT, start_new_session=True)
    CHILDREN.append(proc)
    return proc


def stop_all(*_):
    for proc in CHILDREN:
        try:
            os.killpg(proc.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
    for proc in CHILDREN:
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)


def template():
    class Loader(yaml.SafeLoader):
        pass

    # CloudFormation tags (!Ref, !Sub, ...) are kept as plain values: only the table and the
    # filter policies are read here, and they hold none.
    Loader.add_multi_constructor("!", lambda loader, suffix, node: None)
    return yaml.load((ROOT / "template.yaml").read_text(), Loader=Loader)


def create_resources(endpoint):
    session = dict(endpoint_url=endpoint, region_name=REGION,
                   aws_access_key_id="local", aws_secret_access_key="local")
    ddb, sns, sqs = (boto3.client(n, **session) for n in ("dynamodb", "sns", "sqs"))
    resources = template()["Resources"]
    props = resources["Table"]["Properties"]
    ddb.create_table(
        TableName=TABLE,
        BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=props["AttributeDefinitions"],
        KeySchema=props["KeySchema"],
        GlobalSecondaryIndexes=[
            {k: gsi[k] for k in ("IndexName", "KeySchema", "Projection")}
            for gsi in props.get("GlobalSecondaryIndexes", [])
        ],
        StreamSpecification={"StreamEnabled": True,
                             "StreamViewType": props["StreamSpecification"]["StreamViewType"]},
    )
    ddb.update_time_to_live(TableName=TABLE, TimeToLiveSpecification={
        "AttributeName": props["TimeToLiveSpecification"]["AttributeName"], "Enabled": True})
    topic = sns.create_topic(Name="qapla-webhooks")["TopicArn"]
    policy = resources["AlertEmailSubscription"]["Properties"]["FilterPolicy"]
    queues = {}
    for name, filter_policy in (("all-changes", None), ("alerts", policy)):
        url = sqs.create_queue(QueueName=name)["QueueUrl"]
        arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        attributes = {"RawMessageDelivery": "true"}
        if filter_policy:
            attributes["FilterPolicy"] = json.dumps(filter_policy)
            attributes["FilterPolicyScope"] = "MessageAttributes"
        sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=arn, Attributes=attributes)
        queues[name] = url
    return ddb, sqs, topic, queues


def stream_event(endpoint, ddb, seen):
    streams = boto3.client("dynamodbstreams", endpoint_url=endpoint, region_name=REGION,
                           aws_access_key_id="local", aws_secret_access_key="local")
    arn = ddb.describe_table(TableName=TABLE)["Table"]["LatestStreamArn"]
    records = []
    for shard in streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"]:
        it = streams.get_shard_iterator(StreamArn=arn, ShardId=shard["ShardId"],
                                        ShardIteratorType="TRIM_HORIZON")["ShardIterator"]
        for r in streams.get_records(ShardIterator=it, Limit=1000)["Records"]:
            seq = r["dynamodb"]["SequenceNumber"]
            if seq in seen:
                continue
            seen.add(seq)
            d = dict(r["dynamodb"])
            d["ApproximateCreationDateTime"] = int(time.time())
            records.append({
                "eventID": r["eventID"], "eventName": r["eventName"], "eventVersion": "1.1",
                "eventSource": "aws:dynamodb", "awsRegion": REGION, "eventSourceARN": arn,
                "dynamodb": d,
            })
    return {"Records": records}


def drain(sqs, url):
    out = []
    while True:
        got = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])
        if not got:
            return out
        for m in got:
            out.append(json.loads(m["Body"]))
            sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])


def main():
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    os.chdir(ROOT)
    # Build first, so the first invocation does not wait on a cold compile of the AWS SDK.
    print("local: building the functions (the first time takes a few minutes)")
    subprocess.run(["cargo", "build", "-q", "-p", "shipments", "-p", "returns", "-p", "orders",
                    "-p", "notifier"], check=True)
    moto_port, lambda_port = free_port(), free_port()
    endpoint = f"http://127.0.0.1:{moto_port}"
    start([sys.executable, str(ROOT / "tools/moto_server.py"), "-H", "127.0.0.1", "-p", str(moto_port)])
    wait_http(f"{endpoint}/moto-api/", 60, "moto")
    ddb, sqs, topic, queues = create_resources(endpoint)
    print(f"local: moto (DynamoDB, streams, SNS, SQS) on {endpoint}; table, topic and queues "
          "created from template.yaml")

    digest = hashlib.sha256(DEMO_KEY.encode()).hexdigest()
    env = dict(os.environ,
               AWS_ENDPOINT_URL=endpoint, AWS_REGION=REGION, AWS_DEFAULT_REGION=REGION,
               AWS_ACCESS_KEY_ID="local", AWS_SECRET_ACCESS_KEY="local",
               TABLE_NAME=TABLE, QAPLA_CHANNELS=f"shop-it:{digest}",
               # Qapla's senders, and this machine for curl.
               QAPLA_ALLOWED_SOURCES=",".join(QAPLA_SOURCES + ["127.0.0.1/32", "::1/128"]),
               TOPIC_ARN=topic)
    (ROOT / "target").mkdir(exist_ok=True)
    log = open(ROOT / "target" / "local-watch.log", "w")
    start(["cargo", "lambda", "watch", "-A", "127.0.0.1", "-P", str(lambda_port)], env=env, log=log)
    wait_http(f"http://127.0.0.1:{lambda_port}/", 180, "cargo lambda watch")
    print(f"local: functions served by cargo lambda watch on 127.0.0.1:{lambda_port} "
          "(compiled on first call: the first answer takes a while)\n")

    def invoke(function, data_file):
        out = subprocess.run(
            ["cargo", "lambda", "invoke", "-A", "127.0.0.1", "-P", str(lambda_port), function,
             "--data-file", str(data_file), "--output-format", "json"],
            env=env, capture_output=True, text=True, timeout=600)
        if out.returncode != 0:
            sys.exit(f"local: cargo lambda invoke {function} failed:\n{out.stderr}")
        return json.loads(out.stdout)

    print("== replaying events/ (answer, expected)")
    expected = json.loads((ROOT / "events" / "expected.json").read_text())
    mismatches = 0
    for e in expected:
        answer = invoke(e["function"], ROOT / "events" / e["event"])
        status, body = answer.get("statusCode"), answer.get("body")
        mark = "ok" if status == e["status"] else "UNEXPECTED"
        mismatches += status != e["status"]
        print(f"  {e['event']:36} {status} {body}   (expected {e['status']}, {e['outcome']}) {mark}")

    print("\n== the table")
    items = ddb.scan(TableName=TABLE)["Items"]
    for item in sorted(items, key=lambda i: (i["pk"]["S"], i["sk"]["S"])):
        status = item.get("statusName", {}).get("S", "")
        print(f"  {item['pk']['S']:40} {item['sk']['S'][:60]:60} {status}")

    print("\n== notifications (the notifier run over the table's stream)")
    seen = set()
    event = stream_event(endpoint, ddb, seen)
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
        json.dump(event, f)
    result = invoke("notifier", f.name)
    failures = result.get("batchItemFailures", [])
    print(f"  {len(event['Records'])} stream records, {len(failures)} reported failed")
    rendered = subprocess.run(
        ["cargo", "run", "-q", "-p", "qapla", "--features", "aws", "--example", "notices"],
        input=json.dumps(event), capture_output=True, text=True, env=env)
    print(rendered.stdout or rendered.stderr)
    for name, url in queues.items():
        messages = drain(sqs, url)
        print(f"  queue {name}: {len(messages)} message(s)")
        for m in messages:
            print(f"    {m['event']:24} {m.get('severity', ''):9} {m['id']}")
    os.unlink(f.name)

    if mismatches:
        print(f"\nlocal: {mismatches} answer(s) differ from events/expected.json")
    base = f"http://127.0.0.1:{lambda_port}/lambda-url"
    if sys.stdin.isatty() and not os.environ.get("CI"):
        print(f"""
== serving until Ctrl-C
  shipments: {base}/shipments/webhooks/shipments
  returns:   {base}/returns/webhooks/returns
  orders:    {base}/orders/webhooks/orders
Post a delivery by hand:
  curl -s -X POST {base}/shipments/webhooks/shipments -H 'Content-Type: application/json' \\
       -d @shared/fixtures/shipment-1.2-exception-stock.json
Logs of the functions: target/local-watch.log""")
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            pass
    return 1 if mismatches else 0


if __name__ == "__main__":
    try:
        code = main()
    finally:
        stop_all()
    sys.exit(code)
