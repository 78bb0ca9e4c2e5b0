"""The three priced platform tiers at the guide's list prices (billing/plans.py)."""

from django.db import migrations


def seed(apps, schema_editor):
    from trunkline.billing.plans import seed_list_prices

    seed_list_prices(apps.get_model("billing", "PlanPrice"))


class Migration(migrations.Migration):
    dependencies = [("billing", "0001_initial")]
    operations = [migrations.RunPython(seed, migrations.RunPython.noop)]
