"""``db tune`` keeps the task system's tables to its current plan: an index an earlier tune made
that the plan no longer holds (the warning levels changed, so the index on a level's instant has
another share; a mapping's words changed, so a partial index has another condition) is dropped by
the next tune and forgotten, rather than left to cost every write of the task system."""

from __future__ import annotations

from sqlalchemy import select, text

from console.db import tuning
from console.db.engine import make_engine
from console.db.models import TuneObject
from console.db.task_tables import tables_for
from console.settings import Settings
from tests.conftest import fresh_pg_database


def _indexes(engine) -> set[str]:
    with engine.connect() as conn:
        return set(conn.execute(text("SELECT indexname FROM pg_indexes WHERE tablename = 'tasks'")).scalars())


def _recorded(engine) -> set[str]:
    with engine.connect() as conn:
        return set(conn.execute(select(TuneObject.name)).scalars())


def test_an_index_of_an_earlier_plan_goes_at_the_next_tune_and_nothing_else_does():
    with fresh_pg_database("tc_superseded", migrated=True) as url:  # own task tables: tuned by db upgrade
        engine = make_engine(url)
        shipped = Settings.model_validate({"database": {"url": url}})
        moved = Settings.model_validate({"database": {"url": url}, "warnings": {"levels": [
            {"level": 20, "at": 80}, {"level": 10, "at": 85}, {"level": 5, "at": 95}]}})
        before = _indexes(engine)
        [at_90] = [name for name in before if name.startswith("tc_tasks_warn_at_90_")]
        with engine.connect() as conn:
            planned = [c.name for c in tuning.changes(conn, tables_for(engine, moved), moved.warnings.levels)]
        assert f"drop index {at_90}" in planned
        done = [c.name for c in tuning.apply(engine, tables_for(engine, moved), levels=moved.warnings.levels)]
        [at_85] = [name for name in _indexes(engine) if name.startswith("tc_tasks_warn_at_85_")]
        assert sorted(done) == sorted([f"drop index {at_90}", f"index {at_85}"])
        assert _indexes(engine) == before - {at_90} | {at_85}
        assert at_90 not in _recorded(engine) and at_85 in _recorded(engine)
        assert tuning.apply(engine, tables_for(engine, moved), levels=moved.warnings.levels) == []
        # Back to the shipped levels: the other way round; untune then removes exactly what is there.
        tuning.apply(engine, tables_for(engine, shipped), levels=shipped.warnings.levels)
        assert _indexes(engine) == before
        tuning.apply(engine, tables_for(engine, shipped), undo=True)
        assert not any(name.startswith("tc_") for name in _indexes(engine)) and _recorded(engine) == set()
        engine.dispose()


def test_a_record_not_of_tunes_shape_never_makes_tune_drop_that_index():
    from console.db.tune_records import Made, record

    with fresh_pg_database("tc_superseded_hostile", migrated=True) as url:
        engine = make_engine(url)
        settings = Settings.model_validate({"database": {"url": url}})
        name = 'theirs"; DROP TABLE tasks; --$$'
        with engine.begin() as conn:
            conn.execute(text(f'CREATE INDEX "{name.replace(chr(34), chr(34) * 2)}" ON tasks (title)'))
            record(conn, (Made("index", name, "tasks", "CREATE INDEX ..."),))
        with engine.connect() as conn:
            planned = [c.name for c in tuning.changes(conn, tables_for(engine, settings))]
        assert not any(name in p for p in planned)
        tuning.apply(engine, tables_for(engine, settings))
        assert name in _indexes(engine) and "tasks" in _tables(engine)
        engine.dispose()


def _tables(engine) -> set[str]:
    with engine.connect() as conn:
        return set(conn.execute(text("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")).scalars())
