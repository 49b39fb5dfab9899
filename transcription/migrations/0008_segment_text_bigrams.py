"""Bigram indexes for two-character keyword searches (退费, 投诉, 工号: most Chinese words).

A trigram index cannot answer a two-character LIKE, so such searches scanned every turn.
`qa_bigrams(text)` is the set of a text's two-character substrings; a term of exactly two
characters occurs in a text exactly when it is in that set, which a GIN index on
qa_bigrams(UPPER(col)) answers (`@>`). The expression matches the one
`analytics.keyword_search` filters on. PostgreSQL only, like 0006.
"""

from django.db import migrations

FUNCTION = """
CREATE OR REPLACE FUNCTION qa_bigrams(value text) RETURNS text[]
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$
    SELECT coalesce(array_agg(DISTINCT substr(value, i, 2)), '{}')
    FROM generate_series(1, char_length(value) - 1) AS i
$$
"""

INDEXES = {
    "segment_text_upper_bigrams": "text",
    "segment_raw_text_upper_bigrams": "raw_text",
}


def create_indexes(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute(FUNCTION)
    for name, column in INDEXES.items():
        schema_editor.execute(
            f"CREATE INDEX IF NOT EXISTS {name} ON transcription_segment "
            f"USING gin (qa_bigrams(UPPER({column})))"
        )


def drop_indexes(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for name in INDEXES:
        schema_editor.execute(f"DROP INDEX IF EXISTS {name}")
    schema_editor.execute("DROP FUNCTION IF EXISTS qa_bigrams(text)")


class Migration(migrations.Migration):
    dependencies = [
        ("transcription", "0007_ingest_run_ready"),
    ]

    operations = [
        migrations.RunPython(create_indexes, drop_indexes, elidable=False),
    ]
