"""Every existing partner gets the two profiles new partners start with, and every
existing tenant goes on its partner's Pay-As-You-Go profile from the day it was created."""

from django.db import migrations

PAYG = {
    "name": "Pay-As-You-Go",
    "description": "Every extension, number and minute at its rate; no monthly minimum.",
    "pricing_model": "PAYG",
    "base_fee_micros": 0,
    "extension_monthly_micros": 15_000_000,
    "did_monthly_micros": 3_000_000,
    "toll_free_did_monthly_micros": 5_000_000,
    "per_minute_micros": 25_000,
    "is_default": True,
}
FLAT = {
    "name": "Flat Rate Starter",
    "description": "$99 a month with 5 extensions, 2 numbers and 500 minutes included.",
    "pricing_model": "FLAT_RATE",
    "base_fee_micros": 99_000_000,
    "extension_monthly_micros": 15_000_000,
    "did_monthly_micros": 3_000_000,
    "toll_free_did_monthly_micros": 5_000_000,
    "per_minute_micros": 25_000,
    "included_extensions": 5,
    "included_dids": 2,
    "included_minutes": 500,
}


def forwards(apps, schema_editor):
    from trunkline.core.ids import new_id

    Partner = apps.get_model("accounts", "Partner")
    Profile = apps.get_model("billing", "BillingProfile")
    Tenant = apps.get_model("tenants", "Tenant")
    for partner in Partner.objects.all().iterator():
        if Profile.objects.filter(partner=partner).exists():
            continue
        payg = Profile.objects.create(id=new_id("bpf"), partner=partner, **PAYG)
        Profile.objects.create(id=new_id("bpf"), partner=partner, **FLAT)
        for tenant in Tenant.objects.filter(partner=partner, billing_profile__isnull=True):
            tenant.billing_profile = payg
            tenant.billing_profile_since = tenant.created_at
            tenant.save(update_fields=["billing_profile", "billing_profile_since"])


class Migration(migrations.Migration):
    dependencies = [
        ("billing", "0010_billing_profiles_tax"),
        ("tenants", "0005_tenant_billing"),
    ]

    operations = [migrations.RunPython(forwards, migrations.RunPython.noop)]
