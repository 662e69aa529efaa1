"""moto's server, answering one request at a time.

moto's own `moto_server` is threaded, and its DynamoDB applies a transaction by snapshotting the
tables and restoring the snapshot when a condition fails: with two transactions in flight, the
restore of one erases the writes of the other. DynamoDB serialises conflicting transactions
instead, so the local store does too, by serving requests one after the other. Clients still
interleave freely, which is what the concurrency tests need.

Usage: moto_server.py -H 127.0.0.1 -p PORT [--cert PEM --key PEM]   (loopback only)
"""

import argparse
import signal
import sys

from werkzeug.serving import run_simple

from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("-H", "--host", default="127.0.0.1")
    parser.add_argument("-p", "--port", type=int, required=True)
    parser.add_argument("--cert", help="serve HTTPS with this certificate (PEM)")
    parser.add_argument("--key", help="the certificate's private key (PEM)")
    args = parser.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    app = DomainDispatcherApplication(create_backend_app)
    tls = (args.cert, args.key) if args.cert and args.key else None
    run_simple(args.host, args.port, app, threaded=False, ssl_context=tls)


if __name__ == "__main__":
    main()
