"""A small Trunkline webhook receiver, using the Python standard library only.

It checks both signatures Trunkline sends, drops duplicate events by their id, and
answers quickly:

    WEBHOOK_SECRET='whsec_…' python examples/webhook_receiver.py --port 8080

Point an endpoint at it (for a receiver on your own machine, the Trunkline server needs
`TRUNKLINE_WEBHOOK_ALLOW_PRIVATE=1`). Each accepted event is printed as one JSON line.
Checking one of the two signatures is enough; this example checks both to show how.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import hmac
import json
import os
import threading
import time
from collections.abc import Callable, Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

SECRET_PREFIX = "whsec_"
TOLERANCE_SECONDS = 5 * 60  # refuse replays of old requests


class InvalidSignature(Exception):
    pass


def verify_hex_signature(secret: str, body: bytes, signature: str) -> None:
    """`X-Trunkline-Signature`: hex HMAC-SHA256 of the raw body, keyed with the secret
    exactly as shown in the portal (`whsec_…` included)."""
    expected = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    if not hmac.compare_digest(expected, signature.strip().lower()):
        raise InvalidSignature("X-Trunkline-Signature does not match")


def verify_standard_signature(
    secret: str, body: bytes, headers: Mapping[str, str], *, now: float | None = None
) -> None:
    """Standard Webhooks: `v1,` + base64 HMAC-SHA256 of `{id}.{timestamp}.{body}`, keyed
    with the base64-decoded part of the secret after `whsec_`."""
    message_id = headers.get("webhook-id", "")
    timestamp = headers.get("webhook-timestamp", "")
    signatures = headers.get("webhook-signature", "")
    if not (message_id and timestamp and signatures):
        raise InvalidSignature("the webhook-id, -timestamp and -signature headers are required")
    try:
        sent_at = int(timestamp)
    except ValueError:
        raise InvalidSignature("webhook-timestamp is not a number") from None
    if abs((time.time() if now is None else now) - sent_at) > TOLERANCE_SECONDS:
        raise InvalidSignature("webhook-timestamp is too far from now")
    key = base64.b64decode(secret.removeprefix(SECRET_PREFIX))
    signed = f"{message_id}.{timestamp}.".encode() + body
    expected = base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()
    # Several signatures may be sent, space-separated, each `version,signature`.
    for candidate in signatures.split():
        version, _, value = candidate.partition(",")
        if version == "v1" and hmac.compare_digest(expected, value):
            return
    raise InvalidSignature("no webhook-signature matches")


class Receiver:
    """Verifies, de-duplicates and hands each new event to `handle`."""

    def __init__(self, secret: str, handle: Callable[[dict], None], *, remember: int = 10_000):
        self.secret = secret
        self.handle = handle
        self.remember = remember
        self._seen: dict[str, None] = {}  # insertion-ordered: the oldest ids are forgotten first
        self._lock = threading.Lock()

    def receive(self, body: bytes, headers: Mapping[str, str]) -> int:
        """The HTTP status to answer with."""
        headers = {name.lower(): value for name, value in headers.items()}
        try:
            verify_hex_signature(self.secret, body, headers.get("x-trunkline-signature", ""))
            verify_standard_signature(self.secret, body, headers)
            event = json.loads(body)
        except (InvalidSignature, ValueError):
            return 401
        with self._lock:
            # The same event can arrive twice (a retry after a lost response, or a
            # redelivery): act on its id once. A real receiver keeps this in its database.
            if event["id"] in self._seen:
                return 200
            self._seen[event["id"]] = None
            while len(self._seen) > self.remember:
                del self._seen[next(iter(self._seen))]
        # Answer within 10 seconds: slow work belongs on your own queue, not in here.
        self.handle(event)
        return 200


def make_server(receiver: Receiver, host: str = "127.0.0.1", port: int = 8080):
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802 (the standard library's name)
            length = int(self.headers.get("Content-Length") or 0)
            status = receiver.receive(self.rfile.read(length), dict(self.headers.items()))
            self.send_response(status)
            self.send_header("Content-Type", "text/plain")
            self.end_headers()
            self.wfile.write(b"ok\n" if status == 200 else b"invalid signature\n")

        def log_message(self, format, *args):
            pass

    return ThreadingHTTPServer((host, port), Handler)


def main() -> None:
    parser = argparse.ArgumentParser(description="Receive and verify Trunkline webhooks.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8080)
    arguments = parser.parse_args()
    secret = os.environ.get("WEBHOOK_SECRET", "")
    if not secret.startswith(SECRET_PREFIX):
        parser.error("set WEBHOOK_SECRET to the endpoint's signing secret (whsec_…)")

    def show(event: dict) -> None:
        print(json.dumps({"id": event["id"], "type": event["type"], "data": event["data"]}))

    server = make_server(Receiver(secret, show), arguments.host, arguments.port)
    print(f"listening on http://{arguments.host}:{arguments.port}/", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


if __name__ == "__main__":
    main()
