"""The schema revision constants that spare every command the Alembic import."""


def test_the_schema_constants_match_alembic():
    from alembic.script import ScriptDirectory

    from console.db import schema

    script = ScriptDirectory.from_config(schema._config())
    assert schema.HEAD == schema.head_revision()
    assert set(schema.KNOWN) == {rev.revision for rev in script.walk_revisions()}
