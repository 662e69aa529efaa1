#!/usr/bin/env python3
"""Writes events/ from shared/fixtures/, so the sample events never drift from the fixtures.

    python3 tools/gen_events.py           write events/ (API Gateway REST proxy events and their
                                          expected answers, plus events/env.local.json)
    python3 tools/gen_events.py --check   exit 1 if a committed file differs or is missing, or an
                                          event file exists that this script does not write

Standard library only, and deterministic: same fixtures, same bytes.
"""

import hashlib
import json
import sys
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "shared" / "fixtures"
EVENTS = ROOT / "events"

QAPLA_SENDER = "34.96.89.1"  # one of the addresses Qapla' publishes
FOREIGN_SENDER = "203.0.113.7"  # TEST-NET-3: never a Qapla' sender
DEMO_CHANNEL = "shop-it"
DEMO_KEY = "demo-key-shop-it"  # the key in every fixture: a demo value, not a secret
STAGE = "prod"
API_ID = "qapla00001"
REGION = "eu-south-1"
ACCOUNT = "123456789012"
# 2026-03-01 12:00:00 UTC, a fixed request time so the files do not change between runs.
REQUEST_EPOCH_MS = 1772366400000
REQUEST_TIME = "01/Mar/2026:12:00:00 +0000"
# Where a function in a sam local container reaches `make sam-local`'s moto (not 5000: macOS
# listens there for AirPlay), and its DynamoDB Local.
LOCAL_ENDPOINT = "http://host.docker.internal:5050"
LOCAL_DYNAMODB_ENDPOINT = "http://host.docker.internal:5051"
# Under sam local invoke, env.local.json allows any sender (QAPLA_ALLOWED_SOURCES=any), so the
# foreign sender is let in, and its body, the in-transit delivery again, is a duplicate.
# The bucket `make sam-local` creates beside the table.
LOCAL_BUCKET = "qapla-webhooks-archive"
SAM_LOCAL = {"shipments/foreign-ip.json": {"status": 200, "outcome": "duplicate"}}


def fixture(name):
    """A fixture's JSON object, key order kept."""
    with open(FIXTURES / f"{name}.json", encoding="utf-8") as f:
        return json.load(f)


def compact(obj):
    """JSON as Qapla' would send it: one line, UTF-8, key order kept."""
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":"))


def with_key(obj, key):
    """The same payload with another apiKey, in the same place."""
    return {k: (key if k == "apiKey" else v) for k, v in obj.items()}


def proxy_event(name, kind, body, source_ip=QAPLA_SENDER):
    """An API Gateway REST API proxy event (the shape `sam local generate-event apigateway
    aws-proxy` produces), for a POST of `body` to /webhooks/<kind> on the prod stage."""
    path = f"/webhooks/{kind}"
    host = f"{API_ID}.execute-api.{REGION}.amazonaws.com"
    request_id = str(uuid.uuid5(uuid.NAMESPACE_URL, f"qapla-webhooks/events/{kind}/{name}"))
    headers = {
        "Content-Type": "application/json",
        "Host": host,
        "User-Agent": "Mozilla/5.0",
        "X-Amzn-Trace-Id": f"Root=1-{REQUEST_EPOCH_MS // 1000:08x}-{request_id.replace('-', '')[:24]}",
        "X-Forwarded-For": source_ip,
        "X-Forwarded-Port": "443",
        "X-Forwarded-Proto": "https",
    }
    return {
        "body": body,
        "resource": path,
        "path": path,
        "httpMethod": "POST",
        "isBase64Encoded": False,
        "queryStringParameters": None,
        "multiValueQueryStringParameters": None,
        "pathParameters": None,
        "stageVariables": None,
        "headers": headers,
        "multiValueHeaders": {k: [v] for k, v in headers.items()},
        "requestContext": {
            "accountId": ACCOUNT,
            "apiId": API_ID,
            "domainName": host,
            "domainPrefix": API_ID,
            "extendedRequestId": request_id[:16],
            "httpMethod": "POST",
            "identity": {
                "accessKey": None,
                "accountId": None,
                "caller": None,
                "cognitoAuthenticationProvider": None,
                "cognitoAuthenticationType": None,
                "cognitoIdentityId": None,
                "cognitoIdentityPoolId": None,
                "sourceIp": source_ip,
                "user": None,
                "userAgent": "Mozilla/5.0",
                "userArn": None,
            },
            "path": f"/{STAGE}{path}",
            "protocol": "HTTP/1.1",
            "requestId": request_id,
            "requestTime": REQUEST_TIME,
            "requestTimeEpoch": REQUEST_EPOCH_MS,
            "resourceId": "abc123",
            "resourcePath": path,
            "stage": STAGE,
        },
    }


def misrouted_order():
    """The orders fixture's first order as an order of its own."""
    orders = fixture("orders")
    first = {**orders["orders"][0], "reference": "ORD-10471", "trackingNumber": "JD0146000077"}
    return {**orders, "orders": [first]}


def cases():
    """(event path under events/, function, body, source ip, status, outcome) in replay order:
    the outcomes are those of replaying the events in this order against an empty table."""
    in_transit = fixture("shipment-1.2-in-transit")
    return [
        ("shipments/in-transit-1.2.json", "shipments", compact(in_transit), QAPLA_SENDER, 200, "stored"),
        ("shipments/exception-stock.json", "shipments",
         compact(fixture("shipment-1.2-exception-stock")), QAPLA_SENDER, 200, "stored"),
        ("shipments/failed-attempt.json", "shipments",
         compact(fixture("shipment-1.2-failed-attempt")), QAPLA_SENDER, 200, "stored"),
        ("shipments/unknown-status.json", "shipments",
         compact(fixture("shipment-1.2-unknown-status")), QAPLA_SENDER, 200, "stored"),
        ("shipments/delivered-1.3.json", "shipments",
         compact(fixture("shipment-1.3-delivered")), QAPLA_SENDER, 200, "stored"),
        ("shipments/wrong-key.json", "shipments",
         compact(with_key(in_transit, "not-a-channel-key")), QAPLA_SENDER, 401, "rejected:unknown_key"),
        ("shipments/not-json.json", "shipments",
         '{"trackingNumber": "JD0146000031", ', QAPLA_SENDER, 400, "rejected:not_json"),
        ("shipments/foreign-ip.json", "shipments",
         compact(in_transit), FOREIGN_SENDER, 403, "rejected:foreign_sender"),
        # Qapla's (a known key), but a date no calendar has: answered OK, kept in the quarantine.
        ("shipments/invalid-date.json", "shipments",
         compact({**in_transit, "date": "0000-00-00 00:00:00"}), QAPLA_SENDER, 200, "quarantined:invalid"),
        # An orders delivery sent to the shipments URL (a URL pasted into the wrong field of
        # Qapla's panel): recorded as the order it is.
        ("shipments/wrong-kind.json", "shipments", compact(misrouted_order()), QAPLA_SENDER, 200, "stored"),
        ("returns/wrapped.json", "returns", compact(fixture("returns-wrapped")), QAPLA_SENDER, 200, "stored"),
        ("returns/flat.json", "returns", compact(fixture("returns-flat")), QAPLA_SENDER, 200, "stored"),
        ("orders/created.json", "orders", compact(fixture("orders")), QAPLA_SENDER, 200, "stored"),
    ]


def env_local():
    """`sam local invoke --env-vars` file: the demo channel, any sender, the local store that
    `make sam-local` serves (LOCAL_ENDPOINT_URL and LOCAL_ENDPOINT_URL_DYNAMODB, which the
    template declares for every function)."""
    digest = hashlib.sha256(DEMO_KEY.encode("utf-8")).hexdigest()
    webhook = {
        "TABLE_NAME": "qapla-webhooks",
        "QAPLA_CHANNELS": f"{DEMO_CHANNEL}:{digest}",
        "QAPLA_ALLOWED_SOURCES": "any",
        "QAPLA_TIMEZONE": "Europe/Rome",
        "QAPLA_MAX_BODY_BYTES": "1048576",
        "QAPLA_HISTORY_DAYS": "400",
        "QAPLA_RETURN_ORDER_DAYS": "400",
        # The local store's bucket: quarantined and deferred deliveries are kept there.
        "BUCKET_NAME": LOCAL_BUCKET,
        "LOCAL_ENDPOINT_URL": LOCAL_ENDPOINT,
        "LOCAL_ENDPOINT_URL_DYNAMODB": LOCAL_DYNAMODB_ENDPOINT,
    }
    return {
        "ShipmentsFunction": dict(webhook),
        "ReturnsFunction": dict(webhook),
        "OrdersFunction": dict(webhook),
        # The inbox drain: the webhooks' own pipeline over the same table and bucket.
        "DrainFunction": dict(webhook),
        "NotifierFunction": {
            "TABLE_NAME": "qapla-webhooks",
            "TOPIC_ARN": f"arn:aws:sns:{REGION}:{ACCOUNT}:qapla-webhooks",
            "QAPLA_TIMEZONE": "Europe/Rome",
            "QAPLA_ALERT_STATUSES": "5,8,6",
            "QAPLA_ALERT_PERSONAL_DATA": "false",
            # Empty: no EventBridge bus (the local store has none).
            "EVENT_BUS_NAME": "",
            "LOCAL_ENDPOINT_URL": LOCAL_ENDPOINT,
            "LOCAL_ENDPOINT_URL_DYNAMODB": LOCAL_DYNAMODB_ENDPOINT,
        },
        # The reconciler: with no key under the prefix in the local store's SSM, the demo channel
        # is skipped (one log line); make local shows recovery against a fake of Qapla's API.
        "ReconcilerFunction": {
            "TABLE_NAME": "qapla-webhooks",
            "QAPLA_CHANNELS": f"{DEMO_CHANNEL}:{digest}",
            "QAPLA_API_URL": "https://api.qapla.it",
            "QAPLA_KEYS_PREFIX": "/qapla-webhooks/keys/",
            "QAPLA_RECOVER_LOOKBACK_HOURS": "24",
            "QAPLA_TIMEZONE": "Europe/Rome",
            "QAPLA_HISTORY_DAYS": "400",
            "LOCAL_ENDPOINT_URL": LOCAL_ENDPOINT,
            "LOCAL_ENDPOINT_URL_DYNAMODB": LOCAL_DYNAMODB_ENDPOINT,
        },
        "StuckFunction": {
            "TABLE_NAME": "qapla-webhooks",
            "TOPIC_ARN": f"arn:aws:sns:{REGION}:{ACCOUNT}:qapla-webhooks",
            "QAPLA_CHANNELS": f"{DEMO_CHANNEL}:{digest}",
            "QAPLA_TIMEZONE": "Europe/Rome",
            "QAPLA_STUCK_STOCK_DAYS": "2",
            "QAPLA_STUCK_DAYS": "5",
            "EVENT_BUS_NAME": "",
            "QAPLA_SILENCE_HOURS": "24",
            "LOCAL_ENDPOINT_URL": LOCAL_ENDPOINT,
            "LOCAL_ENDPOINT_URL_DYNAMODB": LOCAL_DYNAMODB_ENDPOINT,
        },
    }


def render(obj):
    return json.dumps(obj, ensure_ascii=False, indent=2) + "\n"


def files():
    """Every file this script owns under events/, path -> content."""
    out = {}
    expected = []
    for path, function, body, source_ip, status, outcome in cases():
        name = Path(path).stem
        out[path] = render(proxy_event(name, function, body, source_ip))
        entry = {"event": path, "function": function, "status": status, "outcome": outcome}
        if path in SAM_LOCAL:
            entry["samLocal"] = SAM_LOCAL[path]
        expected.append(entry)
    out["expected.json"] = render(expected)
    out["env.local.json"] = render(env_local())
    return out


def main(argv):
    check = argv[1:] == ["--check"]
    if argv[1:] and not check:
        print(__doc__.strip(), file=sys.stderr)
        return 2
    wanted = files()
    if not check:
        for rel, content in wanted.items():
            target = EVENTS / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(content, encoding="utf-8")
        print(f"gen_events: wrote {len(wanted)} files under events/")
        return 0
    problems = []
    for rel, content in wanted.items():
        target = EVENTS / rel
        if not target.exists():
            problems.append(f"missing: events/{rel}")
        elif target.read_text(encoding="utf-8") != content:
            problems.append(f"differs: events/{rel}")
    for stray in sorted(EVENTS.rglob("*.json")):
        rel = stray.relative_to(EVENTS).as_posix()
        if rel not in wanted:
            problems.append(f"not generated: events/{rel}")
    for p in problems:
        print(f"gen_events: {p}", file=sys.stderr)
    if problems:
        print("gen_events: run `make events` (python3 tools/gen_events.py) and commit", file=sys.stderr)
        return 1
    print(f"gen_events: events/ matches shared/fixtures/ ({len(wanted)} files)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
