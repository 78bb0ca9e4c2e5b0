"""The HTTP client deliveries are sent with: it connects only to checked public addresses.

The check happens in the connection pool's network backend, at the moment a connection
is opened: the name is resolved once, every answer is checked, and the socket is opened
to a checked address, so no second lookup can return something else (DNS rebinding).
TLS still uses the name for SNI and certificate checks, and the Host header is the
URL's, because both come from the request, not from the socket.
"""

from __future__ import annotations

import os
import threading

import httpcore
import httpx

from trunkline.webhooks.addresses import checked_addresses

TIMEOUT_SECONDS = 10.0
MAX_CONNECTIONS = 64


class CheckedAddressBackend(httpcore.SyncBackend):
    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options=None,
    ) -> httpcore.NetworkStream:
        addresses = checked_addresses(host, port)  # raises AddressRefused
        failure: Exception | None = None
        for address in addresses:
            try:
                return super().connect_tcp(
                    str(address),
                    port,
                    timeout=timeout,
                    local_address=local_address,
                    socket_options=socket_options,
                )
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as error:
                failure = error
        assert failure is not None
        raise failure

    def connect_unix_socket(self, *args, **kwargs):  # pragma: no cover - never configured
        raise httpcore.ConnectError("unix sockets are not webhook targets")


class CheckedTransport(httpx.HTTPTransport):
    """httpx's own transport, with the connection pool's network backend swapped."""

    def __init__(self, *, max_connections: int = MAX_CONNECTIONS):
        super().__init__(retries=0, trust_env=False)
        self._pool = httpcore.ConnectionPool(
            ssl_context=httpx.create_ssl_context(trust_env=False),
            max_connections=max_connections,
            max_keepalive_connections=max_connections,
            keepalive_expiry=30.0,
            http1=True,
            http2=False,
            network_backend=CheckedAddressBackend(),
        )


def build_client() -> httpx.Client:
    return httpx.Client(
        transport=CheckedTransport(),
        timeout=httpx.Timeout(TIMEOUT_SECONDS),
        follow_redirects=False,  # a redirect is an answer, not a new destination
        trust_env=False,  # no proxy from the environment: it would skip the address check
    )


_lock = threading.Lock()
_client: tuple[int, httpx.Client] | None = None


def shared_client() -> httpx.Client:
    """One client per process (keep-alive across batches); a forked child makes its own."""
    global _client
    with _lock:
        if _client is None or _client[0] != os.getpid():
            _client = (os.getpid(), build_client())
        return _client[1]
