"""The platform tiers and their list prices (partner guide `004_*.txt`, "The four
platform tiers"). Enterprise prices are set per partner by platform staff."""

from __future__ import annotations

from datetime import UTC, datetime

DOLLAR = 1_000_000
LIST_PRICES_SINCE = datetime(2020, 1, 1, tzinfo=UTC)
# plan: (monthly fee, max extensions, per extension, DID local, DID toll-free,
#        local per minute, toll-free per minute) — micro-dollars a month or a minute
LIST_PRICES = {
    "starter": (249 * DOLLAR, 300, 3_000_000, 1_750_000, 2_500_000, 20_000, 22_000),
    "professional": (549 * DOLLAR, 1000, 2_000_000, 1_500_000, 2_250_000, 16_000, 19_000),
    "business": (999 * DOLLAR, None, 1_250_000, 1_250_000, 2_000_000, 14_000, 17_000),
}


def seed_list_prices(plan_price_model) -> None:
    """Write the list prices once; used by the migration (with its historical model)."""
    for plan, prices in LIST_PRICES.items():
        fee, cap, extension, did_local, did_tf, local, toll_free = prices
        plan_price_model.objects.get_or_create(
            plan=plan,
            partner=None,
            effective_from=LIST_PRICES_SINCE,
            defaults={
                "monthly_fee_micros": fee,
                "max_extensions": cap,
                "extension_monthly_micros": extension,
                "did_local_monthly_micros": did_local,
                "did_toll_free_monthly_micros": did_tf,
                "minute_local_micros": local,
                "minute_toll_free_micros": toll_free,
                "note": "list price",
            },
        )
