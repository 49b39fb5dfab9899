"""Trigram indexes for the keyword audit's substring search over the whole history.

PostgreSQL only (SQLite scans; fine for a single box). Django writes `icontains` as
`UPPER(col::text) LIKE UPPER(%s)`, so the indexes are on UPPER(text) and UPPER(raw_text):
an index on the bare column would not be used. pg_trgm is a trusted extension (PostgreSQL
13+): the database owner may create it without superuser rights.
"""

from django.db import migrations

INDEXES = {
    "segment_text_upper_trgm": "text",
    "segment_raw_text_upper_trgm": "raw_text",
}


def create_indexes(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    for name, column in INDEXES.items():
        schema_editor.execute(
            f"CREATE INDEX IF NOT EXISTS {name} ON transcription_segment "
            f"USING gin (UPPER({column}) gin_trgm_ops)"
        )


def drop_indexes(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for name in INDEXES:
        schema_editor.execute(f"DROP INDEX IF EXISTS {name}")


class Migration(migrations.Migration):

    dependencies = [
        ("transcription", "0005_transcript_pii_masked"),
    ]

    operations = [
        migrations.RunPython(create_indexes, drop_indexes, elidable=False),
    ]
