from __future__ import annotations

from datetime import datetime
from typing import Literal

from ninja import Schema
from pydantic import Field

from trunkline.core.schemas import InSchema

EndpointStatus = Literal["ACTIVE", "DISABLED"]
DeliveryStatus = Literal["PENDING", "FAILED", "DELIVERED", "DEAD"]


class EndpointIn(InSchema):
    url: str = Field(max_length=2048)
    description: str | None = Field(default=None, max_length=500)
    events: list[str] = Field(max_length=100)


class EndpointPatch(InSchema):
    url: str | None = Field(default=None, max_length=2048)
    description: str | None = Field(default=None, max_length=500)
    events: list[str] | None = Field(default=None, max_length=100)
    status: EndpointStatus | None = None


class EndpointOut(Schema):
    id: str
    url: str
    description: str
    events: list[str]
    status: EndpointStatus
    disabled_reason: str | None
    consecutive_failures: int
    created_at: datetime
    updated_at: datetime
    secret_rotated_at: datetime | None

    @staticmethod
    def resolve_disabled_reason(endpoint) -> str | None:
        return endpoint.disabled_reason or None


class EndpointWithSecretOut(EndpointOut):
    secret: str = Field(description="The signing secret. It is shown this once.")


class EventTypeOut(Schema):
    name: str
    category: str
    description: str


class DeliveryOut(Schema):
    id: str
    endpoint_id: str
    event_id: str
    event_type: str
    status: DeliveryStatus
    attempts: int
    max_attempts: int
    attempts_label: str = Field(description='Attempts made of the plan, e.g. "3/8".')
    last_attempt_at: datetime | None
    last_response_code: int | None
    last_response: str | None = Field(
        description='The last answer: the status code, "Timeout", or why nothing was sent.'
    )
    next_attempt_at: datetime | None
    delivered_at: datetime | None
    redelivered_at: datetime | None
    created_at: datetime
    request_body: dict

    @staticmethod
    def resolve_event_type(delivery) -> str:
        return delivery.event.type

    @staticmethod
    def resolve_max_attempts(delivery) -> int:
        return delivery.MAX_ATTEMPTS

    @staticmethod
    def resolve_attempts_label(delivery) -> str:
        return f"{delivery.attempts}/{delivery.MAX_ATTEMPTS}"

    @staticmethod
    def resolve_last_response(delivery) -> str | None:
        if delivery.last_error and delivery.last_error != "Redirect not followed":
            return delivery.last_error
        if delivery.last_response_code is not None:
            return str(delivery.last_response_code)
        return delivery.last_error or None

    @staticmethod
    def resolve_request_body(delivery) -> dict:
        return delivery.event.envelope()


class AttemptOut(Schema):
    id: str
    number: int
    is_redelivery: bool
    started_at: datetime
    duration_ms: int
    url: str
    request_headers: dict
    request_body: str
    response_code: int | None
    response_headers: dict
    response_body: str
    error: str | None

    @staticmethod
    def resolve_error(attempt) -> str | None:
        return attempt.error or None


class DeliveryDetailOut(DeliveryOut):
    attempt_log: list[AttemptOut] = Field(description="Every attempt, newest first.")

    @staticmethod
    def resolve_attempt_log(delivery) -> list:
        return delivery.attempt_log_rows
