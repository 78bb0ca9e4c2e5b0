"""Every tenant has a default site: give one to the tenants made before sites existed."""

from django.db import migrations
from django.utils import timezone

from trunkline.core.ids import new_id


def add_default_sites(apps, schema_editor):
    Tenant = apps.get_model("tenants", "Tenant")
    Site = apps.get_model("pbx", "Site")
    now = timezone.now()
    with_site = Site.objects.filter(is_default=True).values("tenant_id")
    missing = Tenant.objects.exclude(id__in=with_site).values_list("id", "partner_id", "timezone")
    Site.objects.bulk_create(
        [
            Site(
                id=new_id("sit"),
                partner_id=partner_id,
                tenant_id=tenant_id,
                name="Main site",
                timezone=zone,
                is_default=True,
                created_at=now,
                updated_at=now,
            )
            for tenant_id, partner_id, zone in missing.iterator()
        ],
        batch_size=1000,
    )


class Migration(migrations.Migration):
    dependencies = [
        ("pbx", "0001_sites_and_departments"),
    ]

    operations = [migrations.RunPython(add_default_sites, migrations.RunPython.noop)]
