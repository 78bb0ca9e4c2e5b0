"""`/v1/openapi.json` publishes every catalogue event under OpenAPI 3.1's `webhooks`."""

import jsonschema
import pytest
from openapi_spec_validator import validate

from tests.core.capture import capture_events
from tests.factories import actor_for_user, make_tenant
from trunkline.core.events import EVENT_TYPES, PENDING_SCHEMA_NOTE
from trunkline.tenants import services

HEADERS = {"X-Trunkline-Signature", "webhook-id", "webhook-timestamp", "webhook-signature"}


@pytest.fixture
def document(client, db):
    response = client.get("/v1/openapi.json")
    assert response.status_code == 200
    return response.json()


def _body_schema(document: dict, event_type: str) -> dict:
    operation = document["webhooks"][event_type]["post"]
    return operation["requestBody"]["content"]["application/json"]["schema"]


def _validator(document: dict, event_type: str) -> jsonschema.Draft202012Validator:
    # The body schema's $refs point at #/components/schemas/…: resolve them in one document.
    schema = {**_body_schema(document, event_type), "components": document["components"]}
    return jsonschema.Draft202012Validator(schema)


def test_the_document_is_valid_openapi_3_1(document):
    assert document["openapi"].startswith("3.1.")
    validate(document)


def test_one_webhook_per_catalogue_event(document):
    assert list(document["webhooks"]) == list(EVENT_TYPES)


def test_each_webhook_is_a_signed_post_of_the_envelope(document):
    for name, event in EVENT_TYPES.items():
        operation = document["webhooks"][name]["post"]
        headers = {p["name"] for p in operation["parameters"] if p["in"] == "header"}
        assert headers == HEADERS, name
        body = _body_schema(document, name)
        assert body["required"] == ["id", "type", "created_at", "partner_id", "data"]
        assert body["properties"]["type"]["const"] == name
        assert event.category in " ".join(operation["tags"])


def test_events_without_a_schema_yet_say_so(document):
    pending = [event for event in EVENT_TYPES.values() if event.data_schema is None]
    assert pending, "every event has a schema: drop this test's premise"
    for event in pending:
        operation = document["webhooks"][event.name]["post"]
        assert PENDING_SCHEMA_NOTE in operation["description"]
        assert _body_schema(document, event.name)["properties"]["data"]["type"] == "object"


def test_every_tenant_event_has_a_published_schema(document):
    for name in [name for name in EVENT_TYPES if name.startswith("tenant.")]:
        data = _body_schema(document, name)["properties"]["data"]
        assert data["$ref"].startswith("#/components/schemas/"), name
    tenant = document["components"]["schemas"]["WebhookTenant"]
    assert {"id", "name", "sip_prefix", "status", "created_at"} <= set(tenant["required"])


def test_what_the_tenant_services_send_matches_the_published_schemas(document, admin):
    actor = actor_for_user(admin)
    with capture_events() as events:
        tenant = make_tenant(admin, name="Acme Plumbing")
        tenant = services.tenant_update(
            actor=actor,
            tenant=tenant,
            changes={
                "name": "Acme Plumbing & Heating",
                "e911_address": {
                    "street": "1 Main St",
                    "city": "Little Rock",
                    "state": "AR",
                    "postal_code": "72201",
                },
            },
        )
        tenant = services.tenant_suspend(actor=actor, tenant=tenant, reason="Past due")
        tenant = services.tenant_unsuspend(actor=actor, tenant=tenant)
        services.tenant_delete(actor=actor, tenant=tenant)
    assert {event.type for event in events} == {
        "tenant.created",
        "tenant.updated",
        "tenant.suspended",
        "tenant.unsuspended",
        "tenant.deleted",
    }
    for event in events:
        _validator(document, event.type).validate(event.envelope())
        EVENT_TYPES[event.type].data_schema.model_validate(event.payload)


def test_a_payload_missing_the_tenant_fails_the_published_schema(document):
    envelope = {
        "id": "evt_1",
        "type": "tenant.created",
        "created_at": "2026-05-04T14:23:45Z",
        "partner_id": "ptr_1",
        "data": {"name": "no tenant object"},
    }
    assert not _validator(document, "tenant.created").is_valid(envelope)


def test_what_the_payment_services_send_matches_the_published_schemas(document, admin):
    from trunkline.billing.payment_services import card_charge_default, payment_method_add
    from trunkline.core.money import Money

    partner = admin.partner
    with capture_events() as events:
        payment_method_add(partner=partner, actor=actor_for_user(admin), token="4000000000009995")
        charge = card_charge_default(
            partner=partner,
            amount=Money.parse("50.00"),
            description="Wallet top-up",
            idempotency_key="schema-check",
            off_session=False,
        )
    assert charge.status == "declined"
    assert [event.type for event in events] == ["payment_method.attached", "payment.failed"]
    for event in events:
        _validator(document, event.type).validate(event.envelope())
        EVENT_TYPES[event.type].data_schema.model_validate(event.payload)


def test_what_the_number_services_send_matches_the_published_schemas(document, admin):
    from datetime import timedelta

    from django.utils import timezone

    from trunkline.billing.ledger import wallet_credit
    from trunkline.billing.models import Posting
    from trunkline.core.actors import Actor
    from trunkline.core.money import Money
    from trunkline.phone_numbers import caller_id
    from trunkline.phone_numbers import services as numbers
    from trunkline.phone_numbers.carrier_requests import requests_sync
    from trunkline.phone_numbers.supply import supply_seed

    partner = admin.partner
    actor = actor_for_user(admin)
    supply_seed(states=["AR"], per_exchange=1, toll_free=0)
    wallet_credit(
        partner=partner,
        amount=Money.parse("20.00"),
        type=Posting.Type.MANUAL_ADJUSTMENT,
        actor=Actor.system(partner=partner),
        idempotency_key="schema-numbers",
    )
    tenant = make_tenant(admin, default_cnam="ACME")
    from trunkline.phone_numbers.models import SupplyNumber

    e164 = SupplyNumber.objects.order_by("e164").values_list("e164", flat=True)[0]
    with capture_events() as events:
        (number,) = numbers.numbers_purchase(actor=actor, numbers=[e164])
        requests_sync(now=timezone.now() + timedelta(minutes=1))
        number = numbers.number_assign(actor=actor, number=number, tenant=tenant)
        caller_id.number_cnam_set(actor=actor, number=number, cnam="ACME SALES")
        numbers.number_release(actor=actor, number=number)
    assert {event.type for event in events} == {
        "phone_number.purchased",
        "phone_number.updated",
        "phone_number.assigned",
        "phone_number.released",
    }
    for event in events:
        _validator(document, event.type).validate(event.envelope())
        EVENT_TYPES[event.type].data_schema.model_validate(event.payload)
