from __future__ import annotations

import pytest

from tests.factories import actor_for_user, make_tenant
from trunkline.billing.profiles import billing_profile_create
from trunkline.licensing import services as licences


def licence_profile(admin):
    return billing_profile_create(
        actor=actor_for_user(admin), name="Seats", pricing_model="LICENSE"
    )


@pytest.fixture
def licensed(admin):
    """A tenant whose billing profile uses the licence pricing model, holding nothing."""
    return make_tenant(admin, name="Seat Co", billing_profile_id=licence_profile(admin).id)


def hold(admin, tenant, sku: str, quantity: int):
    return licences.subscription_add(
        actor=actor_for_user(admin), tenant=tenant, sku_code=sku, quantity=quantity
    )
