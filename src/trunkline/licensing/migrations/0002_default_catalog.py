from django.db import migrations


def load(apps, schema_editor):
    from trunkline.licensing.catalog import catalog_load

    catalog_load(apps.get_model("licensing", "LicenseSku"))


class Migration(migrations.Migration):
    dependencies = [("licensing", "0001_initial")]

    operations = [migrations.RunPython(load, migrations.RunPython.noop)]
