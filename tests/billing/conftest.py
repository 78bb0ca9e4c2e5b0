from datetime import UTC, datetime

import pytest

from trunkline.billing.models import InboundRate, OutboundRate, Provider

SINCE = datetime(2020, 1, 1, tzinfo=UTC)


@pytest.fixture
def carrier(db):
    """A default carrier with a small cost table, and the platform's international prices."""
    provider = Provider.objects.create(
        name="Docs Demo Carrier", trunk_name="carrier-a", is_default=True
    )
    for prefix, per_minute, first, step in [("1", 4_000, 6, 6), ("44", 9_000, 60, 60)]:
        OutboundRate.objects.create(
            provider=provider,
            prefix=prefix,
            per_minute_micros=per_minute,
            first_increment=first,
            step_increment=step,
            effective_from=SINCE,
        )
    for did_class, per_minute in [("local", 2_000), ("toll_free", 7_000)]:
        InboundRate.objects.create(
            provider=provider,
            did_class=did_class,
            per_minute_micros=per_minute,
            first_increment=6,
            step_increment=6,
            effective_from=SINCE,
        )
    OutboundRate.objects.create(
        provider=None,
        prefix="44",
        description="United Kingdom",
        per_minute_micros=50_000,
        effective_from=SINCE,
    )
    return provider
