"""The four platform tiers at the prices of the partner guide (`004_*.txt`, "The four
platform tiers"). Enterprise prices are set per partner by platform staff."""

from datetime import UTC, datetime

from django.db import migrations

DOLLAR = 1_000_000
TIERS = [
    # plan, monthly fee, max extensions, per extension, DID local, DID toll-free,
    # local per minute, toll-free per minute
    ("starter", 249 * DOLLAR, 300, 3_000_000, 1_750_000, 2_500_000, 20_000, 22_000),
    ("professional", 549 * DOLLAR, 1000, 2_000_000, 1_500_000, 2_250_000, 16_000, 19_000),
    ("business", 999 * DOLLAR, None, 1_250_000, 1_250_000, 2_000_000, 14_000, 17_000),
]
SINCE = datetime(2020, 1, 1, tzinfo=UTC)


def seed(apps, schema_editor):
    PlanPrice = apps.get_model("billing", "PlanPrice")
    for plan, fee, cap, extension, did_local, did_tf, local, toll_free in TIERS:
        PlanPrice.objects.get_or_create(
            plan=plan,
            partner=None,
            effective_from=SINCE,
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


class Migration(migrations.Migration):
    dependencies = [("billing", "0001_initial")]
    operations = [migrations.RunPython(seed, migrations.RunPython.noop)]
