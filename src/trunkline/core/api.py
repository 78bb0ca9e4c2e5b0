"""The `/v1` API: one NinjaAPI, the contract's error envelope for every failure."""

from __future__ import annotations

import logging

from django.http import Http404, HttpRequest, JsonResponse
from ninja import NinjaAPI
from ninja.errors import AuthenticationError, HttpError
from ninja.errors import ValidationError as NinjaValidationError
from ninja.parser import Parser

from trunkline.core.errors import RateLimited, TrunklineError, ValidationFailed, envelope
from trunkline.core.openapi_webhooks import add_webhooks

logger = logging.getLogger("trunkline.api")

API_DESCRIPTION = """
The Trunkline partner API. Authenticate with `Authorization: Bearer sk_live_…`.

Errors share one shape: `{"error": {"type", "message", "field"}}`. Lists answer
`{"data": [...], "next_cursor": ...}` and take `?limit=` (1–500, default 50) and `?cursor=`.
Every POST accepts an `Idempotency-Key` header; a retry with the same key and body
returns the first response without doing anything twice.
"""


def _json(status: int, body: dict, **headers) -> JsonResponse:
    response = JsonResponse(body, status=status)
    for name, value in headers.items():
        response[name] = value
    return response


def _field_of(location: tuple | list) -> str | None:
    parts = [str(part) for part in location]
    if parts and parts[0] == "body":
        parts = parts[2:]  # drop "body" and the operation's parameter name
    elif parts and parts[0] in {"query", "path", "header", "cookie", "form", "file"}:
        parts = parts[1:]
    return ".".join(parts) or None


def _validation_message(error: dict, field: str | None) -> str:
    kind = error.get("type", "")
    if kind == "extra_forbidden":
        return f"unknown field {field}"
    if kind == "missing" and field is None:
        return "the request body must be a JSON object"
    if kind == "missing":
        return f"{field} is required"
    if kind in {"model_attributes_type", "dict_type", "model_type"} and field is None:
        return "the request body must be a JSON object"
    message = error.get("msg", "is invalid").removeprefix("Value error, ")
    return f"{field}: {message}" if field else message


def _refuse_nul(value, path: str = "") -> None:
    # PostgreSQL text cannot hold NUL, and no field of ours means one: refuse it up front
    # instead of failing at the database.
    if isinstance(value, str):
        if "\x00" in value:
            raise ValidationFailed("text cannot contain NUL characters", field=path or None)
    elif isinstance(value, dict):
        for key, item in value.items():
            _refuse_nul(key, path)
            _refuse_nul(item, f"{path}.{key}" if path else str(key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            _refuse_nul(item, f"{path}.{index}" if path else str(index))


class JsonParser(Parser):
    def parse_body(self, request: HttpRequest):
        data = super().parse_body(request)
        _refuse_nul(data)
        return data


class TrunklineAPI(NinjaAPI):
    def get_openapi_schema(self, **kwargs):
        # django-ninja writes OpenAPI 3.1, whose top-level `webhooks` describes our POSTs.
        return add_webhooks(super().get_openapi_schema(**kwargs))


def build_api() -> NinjaAPI:
    api = TrunklineAPI(
        title="Trunkline API",
        version="1",
        description=API_DESCRIPTION,
        urls_namespace="v1",
        docs_url="/docs",
        openapi_url="/openapi.json",
        parser=JsonParser(),
    )

    @api.exception_handler(TrunklineError)
    def on_domain_error(request: HttpRequest, exc: TrunklineError):
        headers = {"Retry-After": str(exc.retry_after)} if isinstance(exc, RateLimited) else {}
        return _json(exc.status, exc.envelope(), **headers)

    @api.exception_handler(NinjaValidationError)
    def on_validation_error(request: HttpRequest, exc: NinjaValidationError):
        first = exc.errors[0] if exc.errors else {}
        field = _field_of(first.get("loc", ()))
        return _json(422, envelope("validation_error", _validation_message(first, field), field))

    @api.exception_handler(AuthenticationError)
    def on_authentication_error(request: HttpRequest, exc: AuthenticationError):
        return _json(
            401,
            envelope(
                "authentication_failed",
                "a valid API key is required (Authorization: Bearer sk_live_…)",
            ),
            **{"WWW-Authenticate": "Bearer"},
        )

    @api.exception_handler(HttpError)
    def on_http_error(request: HttpRequest, exc: HttpError):
        if isinstance(exc.__cause__, TrunklineError):  # raised while parsing the body
            return on_domain_error(request, exc.__cause__)
        kind = "malformed_request" if exc.status_code == 400 else "error"
        message = str(exc)
        if exc.status_code == 400:
            message = "the request body is not valid JSON"
        return _json(exc.status_code, envelope(kind, message))

    @api.exception_handler(Http404)
    def on_not_found(request: HttpRequest, exc: Http404):
        return _json(404, envelope("not_found", "no such object"))

    @api.exception_handler(Exception)
    def on_unexpected(request: HttpRequest, exc: Exception):
        logger.exception("unhandled error in %s %s", request.method, request.path)
        return _json(500, envelope("internal_error", "something went wrong on our side"))

    from trunkline.billing.api import router as billing_router
    from trunkline.billing.api_calls import router as calls_router
    from trunkline.billing.api_collection import router as collection_router
    from trunkline.billing.api_invoices import router as invoices_router
    from trunkline.billing.api_payments import router as payments_router
    from trunkline.billing.api_subscription import router as subscription_router
    from trunkline.billing.api_tenant_billing import router as tenant_billing_router
    from trunkline.branding.api import router as branding_router
    from trunkline.licensing.api import router as licensing_router
    from trunkline.limits.api import router as limits_router
    from trunkline.pbx.api import router as pbx_router
    from trunkline.pbx.api_call_flows import router as call_flows_router
    from trunkline.pbx.api_call_settings import router as call_settings_router
    from trunkline.pbx.api_routing import router as routing_router
    from trunkline.pbx.api_trunks import router as trunks_router
    from trunkline.pbx.api_voicemail import router as voicemail_router
    from trunkline.phone_numbers.api import router as numbers_router
    from trunkline.phone_numbers.api_blocks import router as blocks_router
    from trunkline.phone_numbers.api_e911 import router as e911_router
    from trunkline.phone_numbers.api_porting import router as porting_router
    from trunkline.phone_numbers.api_supply import router as supply_router
    from trunkline.telephony.api_config import router as telephony_config_router
    from trunkline.telephony.api_nodes import router as pbx_nodes_router
    from trunkline.tenants.api import router as tenants_router
    from trunkline.webhooks.api import router as webhooks_router

    for router in (
        tenants_router,
        limits_router,
        pbx_router,
        call_flows_router,
        call_settings_router,
        voicemail_router,
        trunks_router,
        routing_router,
        licensing_router,
        billing_router,
        subscription_router,
        payments_router,
        calls_router,
        tenant_billing_router,
        collection_router,
        invoices_router,
        webhooks_router,
        branding_router,
        # Before the numbers router: /phone-numbers/available is not a number's id.
        supply_router,
        numbers_router,
        e911_router,
        porting_router,
        blocks_router,
        pbx_nodes_router,
        telephony_config_router,
    ):
        api.add_router("/", router)
    return api


api = build_api()
