"""A real HTTP receiver on loopback, and small builders for the webhook tests."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from django.db import transaction

from trunkline.core.actors import Actor
from trunkline.core.audit import event_emit


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes

    @property
    def json(self) -> dict:
        return json.loads(self.body)


# What the receiver answers: (status, headers, body), given the request and how many
# requests came before it.
Responder = Callable[[Received, int], tuple[int, dict, bytes]]


def always(status: int, headers: dict | None = None, body: bytes = b"ok") -> Responder:
    return lambda request, count: (status, headers or {}, body)


class Receiver:
    """`http.server` in a thread: records every request, answers with `respond`."""

    def __init__(self, respond: Responder | None = None):
        self.respond: Responder = respond or always(200)
        self.requests: list[Received] = []
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self):  # noqa: N802 - the http.server API
                length = int(self.headers.get("Content-Length", "0"))
                request = Received(
                    path=self.path,
                    headers={name.lower(): value for name, value in self.headers.items()},
                    body=self.rfile.read(length),
                )
                with receiver._lock:
                    count = len(receiver.requests)
                    receiver.requests.append(request)
                status, headers, body = receiver.respond(request, count)
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        class Server(ThreadingHTTPServer):
            request_queue_size = 128  # the sender opens up to 16 connections at once

        self.server = Server(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def url(self, path: str = "/hook") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def __enter__(self) -> Receiver:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()


def emit(partner, type: str = "tenant.created", data: dict | None = None):
    """One committed-with-the-test outbox event, as a service writes it."""
    with transaction.atomic():
        return event_emit(partner=partner, type=type, data=data or {"tenant": {"id": "tnt_x"}})


def system_actor(partner) -> Actor:
    return Actor.system(partner=partner)


def fake_resolver(monkeypatch, answers: dict[str, str]) -> None:
    """Make the system resolver answer `answers` (name → address) and pass the rest on."""
    real = socket.getaddrinfo

    def getaddrinfo(host, port, *args, **kwargs):
        if isinstance(host, bytes):
            host = host.decode()
        if host in answers:
            address = answers[host]
            family = socket.AF_INET6 if ":" in address else socket.AF_INET
            sockaddr = (
                (address, port or 0, 0, 0) if family == socket.AF_INET6 else (address, port or 0)
            )
            return [(family, socket.SOCK_STREAM, 6, "", sockaddr)]
        return real(host, port, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
