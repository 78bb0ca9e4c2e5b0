"""The OpenAPI 3.1 `webhooks` section: one entry per event of the catalogue.

Each entry is the POST Trunkline makes to an endpoint: the envelope
`{id, type, created_at, partner_id, data}` with the event's own `data` schema, and the
signature headers a receiver checks.
"""

from __future__ import annotations

from pydantic.json_schema import models_json_schema

from trunkline.core.events import EVENT_TYPES, PENDING_SCHEMA_NOTE, EventType

REF_TEMPLATE = "#/components/schemas/{model}"
TAG = "Webhook events"

SIGNATURE_HEADERS = (
    (
        "X-Trunkline-Signature",
        "Hex HMAC-SHA256 of the raw request body, keyed with the endpoint's signing secret.",
    ),
    ("webhook-id", "Standard Webhooks: the event id (`evt_…`); the same on every retry."),
    ("webhook-timestamp", "Standard Webhooks: seconds since the Unix epoch when signed."),
    (
        "webhook-signature",
        "Standard Webhooks: `v1,<base64 HMAC-SHA256>` of `{webhook-id}.{webhook-timestamp}."
        "{body}`; several space-separated signatures may be present.",
    ),
)


def _envelope(event: EventType, data_schema: dict) -> dict:
    return {
        "type": "object",
        "required": ["id", "type", "created_at", "partner_id", "data"],
        "properties": {
            "id": {
                "type": "string",
                "description": "Event id, `evt_…`. Use it to drop duplicates.",
            },
            "type": {"type": "string", "const": event.name},
            "created_at": {"type": "string", "format": "date-time"},
            "partner_id": {"type": "string", "description": "Your partner id, `ptr_…`."},
            "data": data_schema,
        },
    }


def _operation(event: EventType, data_schema: dict) -> dict:
    description = event.description
    if event.data_schema is None:
        description = f"{description}\n\n{PENDING_SCHEMA_NOTE}"
    return {
        "post": {
            "operationId": "webhook_" + event.name.replace(".", "_").replace("-", "_"),
            "summary": event.name,
            "description": description,
            "tags": [TAG, f"{TAG}: {event.category}"],
            "parameters": [
                {
                    "name": name,
                    "in": "header",
                    "required": True,
                    "description": text,
                    "schema": {"type": "string"},
                }
                for name, text in SIGNATURE_HEADERS
            ],
            "requestBody": {
                "required": True,
                "content": {"application/json": {"schema": _envelope(event, data_schema)}},
            },
            "responses": {
                "2XX": {"description": "Received. Answer within 10 seconds."},
                "410": {"description": "Gone: Trunkline disables the endpoint."},
                "default": {"description": "Any other answer, or none, is retried."},
            },
        }
    }


def webhooks_openapi() -> tuple[dict, dict]:
    """The `webhooks` section and the component schemas it refers to."""
    models = sorted(
        {event.data_schema for event in EVENT_TYPES.values() if event.data_schema},
        key=lambda model: model.__name__,
    )
    refs, definitions = models_json_schema(
        [(model, "serialization") for model in models], ref_template=REF_TEMPLATE
    )
    components = definitions.get("$defs", {})
    webhooks: dict = {}
    for event in EVENT_TYPES.values():  # in the catalogue's order, category by category
        if event.data_schema is not None:
            data_schema = refs[(event.data_schema, "serialization")]
        else:
            data_schema = {
                "type": "object",
                "additionalProperties": True,
                "description": PENDING_SCHEMA_NOTE,
            }
        webhooks[event.name] = _operation(event, data_schema)
    return webhooks, components


def add_webhooks(schema: dict) -> dict:
    """Put the catalogue's events into a generated OpenAPI document."""
    webhooks, components = webhooks_openapi()
    existing = schema.setdefault("components", {}).setdefault("schemas", {})
    for name, definition in components.items():
        if name in existing and existing[name] != definition:
            raise ValueError(f"webhook schema {name} clashes with an API schema of that name")
        existing[name] = definition
    schema["webhooks"] = webhooks
    return schema
