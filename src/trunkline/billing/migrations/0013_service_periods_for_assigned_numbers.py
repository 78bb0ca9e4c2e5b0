"""Numbers already assigned to a tenant are held by it from when they were assigned."""

from django.db import migrations


def forwards(apps, schema_editor):
    PhoneNumber = apps.get_model("phone_numbers", "PhoneNumber")
    ServicePeriod = apps.get_model("billing", "ServicePeriod")
    rows = [
        ServicePeriod(
            partner_id=number.partner_id,
            tenant_id=number.tenant_id,
            kind="did_toll_free" if number.kind == "toll_free" else "did_local",
            object_id=number.id,
            label=number.e164,
            started_at=number.assigned_at or number.purchased_at,
        )
        for number in PhoneNumber.objects.filter(tenant__isnull=False).iterator()
    ]
    ServicePeriod.objects.bulk_create(rows, batch_size=1000)


class Migration(migrations.Migration):
    dependencies = [
        ("billing", "0012_tenant_invoices"),
        ("phone_numbers", "0002_porting"),
    ]

    operations = [migrations.RunPython(forwards, migrations.RunPython.noop)]
