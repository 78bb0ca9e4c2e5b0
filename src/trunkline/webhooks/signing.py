"""Endpoint secrets and the signatures made with them.

A secret is `whsec_` + base64 of 32 random bytes, the Standard Webhooks format, so a
receiver can hand it unchanged to any Standard Webhooks library. It is stored only
encrypted (AES-256-GCM, bound to the endpoint id) and shown once.

Each request carries two signatures of the same raw body:
- `X-Trunkline-Signature`: hex HMAC-SHA256 of the body, keyed with the secret string
  exactly as shown (`whsec_…`), as the partner guide describes;
- `webhook-id` / `webhook-timestamp` / `webhook-signature`: Standard Webhooks, signed
  by the `standardwebhooks` package (HMAC of `id.timestamp.body` keyed with the
  decoded secret bytes, sent as `v1,<base64>`).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
from datetime import datetime

from standardwebhooks import Webhook

from trunkline.core import crypto

SECRET_PREFIX = "whsec_"
SECRET_BYTES = 32
USER_AGENT = "Trunkline-Webhooks/1.0"


def secret_generate() -> str:
    return SECRET_PREFIX + base64.b64encode(os.urandom(SECRET_BYTES)).decode()


def secret_seal(secret: str, *, endpoint_id: str) -> str:
    return crypto.encrypt(secret, context=f"webhook-endpoint:{endpoint_id}")


def secret_open(sealed: str, *, endpoint_id: str) -> str:
    return crypto.decrypt(sealed, context=f"webhook-endpoint:{endpoint_id}")


def hex_signature(secret: str, body: bytes) -> str:
    return hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def request_headers(*, secret: str, event_id: str, body: bytes, at: datetime) -> dict[str, str]:
    """Every header of one attempt; `at` is the attempt's time (a fresh timestamp each)."""
    standard = Webhook(secret).sign(msg_id=event_id, timestamp=at, data=body.decode())
    return {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        "X-Trunkline-Signature": hex_signature(secret, body),
        "webhook-id": event_id,
        "webhook-timestamp": str(int(at.timestamp())),
        "webhook-signature": standard,
    }
