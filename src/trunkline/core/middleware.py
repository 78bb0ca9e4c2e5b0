"""Request ids: every response carries `X-Request-Id`, echoed from the caller when sane.

Also the portal-only flash-message middleware, which API calls skip.
"""

import contextvars
import re
import uuid

from django.contrib.messages.middleware import MessageMiddleware

_SAFE_REQUEST_ID = re.compile(r"[A-Za-z0-9._:\-]{8,64}")  # used with fullmatch
current_request_id: contextvars.ContextVar[str] = contextvars.ContextVar(
    "current_request_id", default=""
)


class RequestIdMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        incoming = request.headers.get("X-Request-Id", "")
        request_id = incoming if _SAFE_REQUEST_ID.fullmatch(incoming) else f"req_{uuid.uuid4().hex}"
        request.request_id = request_id
        token = current_request_id.set(request_id)
        try:
            response = self.get_response(request)
        finally:
            current_request_id.reset(token)
        response["X-Request-Id"] = request_id
        return response


def client_ip(request) -> str | None:
    return request.META.get("REMOTE_ADDR") or None


class PortalMessageMiddleware(MessageMiddleware):
    """Django's flash messages for the portal's pages; API calls have no page to show them.

    Setting up the message storage (cookie and session back-ends) on every API call was a
    few per cent of a small call's time.
    """

    def process_request(self, request):
        if not request.path_info.startswith("/v1/"):
            super().process_request(request)
