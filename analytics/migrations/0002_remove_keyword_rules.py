from django.db import migrations


class Migration(migrations.Migration):
    """The first keyword-only rules and their hits give way to versioned rules (next migration)."""

    dependencies = [
        ("analytics", "0001_initial"),
    ]

    operations = [
        migrations.DeleteModel(name="Hit"),
        migrations.DeleteModel(name="Rule"),
    ]
