"""Domain errors and their place in the contract's envelope.

Every API error answers `{"error": {"type", "message", "field"}}`. Services raise these;
the API layer turns them into responses, so the portal and the API agree.
"""

from __future__ import annotations


class TrunklineError(Exception):
    status = 400
    type = "bad_request"

    def __init__(self, message: str, *, field: str | None = None, type: str | None = None):
        super().__init__(message)
        self.message = message
        self.field = field
        if type:
            self.type = type

    def envelope(self) -> dict:
        return {"error": {"type": self.type, "message": self.message, "field": self.field}}


class MalformedRequest(TrunklineError):
    status = 400
    type = "malformed_request"


class AuthenticationFailed(TrunklineError):
    status = 401
    type = "authentication_failed"


class PaymentRequired(TrunklineError):
    status = 402
    type = "insufficient_balance"


class PermissionDenied(TrunklineError):
    status = 403
    type = "permission_denied"


class NotFound(TrunklineError):
    status = 404
    type = "not_found"


class Conflict(TrunklineError):
    status = 409
    type = "conflict"


class InvalidTransition(Conflict):
    type = "invalid_state_transition"


class ValidationFailed(TrunklineError):
    status = 422
    type = "validation_error"


class RateLimited(TrunklineError):
    status = 429
    type = "rate_limited"

    def __init__(self, message: str, *, retry_after: int):
        super().__init__(message)
        self.retry_after = max(1, int(retry_after))


def envelope(type: str, message: str, field: str | None = None) -> dict:
    return {"error": {"type": type, "message": message, "field": field}}
