"""Nothing in ``apscheduler_jobs.job_state`` can run code (issue 12, item 13), on SQLite and PostgreSQL.

Each hostile row would create a file under the test's tmp_path if anything ran it; every case
checks that no such file appears, that the row is still there byte for byte (APScheduler's own
store deletes a row it cannot load), that ``status`` names it, and that the other jobs go on.
The last group pins the APScheduler 3.11 behaviour ``console/scheduler/safe_jobstore.py`` relies on.
"""

from __future__ import annotations

import ast
import hashlib
import inspect
import io
import json
import os
import pickle
import signal
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import yaml
from apscheduler.job import Job
from apscheduler.jobstores import sqlalchemy as apscheduler_sqlalchemy
from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.combining import OrTrigger
from apscheduler.triggers.cron import fields
from apscheduler.triggers.interval import IntervalTrigger
from sqlalchemy import text

from console.scheduler.safe_jobstore import _SHAPE, ADMITTED, RefusedJobState, SafeJobStore
from console.scheduler.schedulers import FUNC, TABLE
from console.scheduler.triggers import signature
from console.service import Service
from console.settings import JOB_IDS, Settings
from tests.faults.conftest import Proc, wait_for
from tests.conftest import schedule_table

VICTIM = "cleanup_old_data"  # the real job whose row is overwritten
INTRUDER = "intruder"  # a row added beside the four jobs


# -- hostile rows ---------------------------------------------------------------------------------
class _Call:
    """Pickles as ``func(*args)``; the payloads are built from these."""

    def __init__(self, func, *args):
        self.func, self.args = func, args

    def __reduce__(self):
        return self.func, self.args

    def __call__(self, *args):  # pickle wants a callable; never called here
        raise AssertionError("not to be called")


def payloads(canary: Path) -> dict[str, bytes]:
    """Pickles that create ``canary`` when loaded by plain ``pickle.loads``."""
    init = _Call(getattr, IntervalTrigger, "__init__")
    module_globals = _Call(getattr, init, "__globals__")
    builtins_ = _Call(_Call(getattr, module_globals, "get"), "__builtins__")
    exec_ = _Call(_Call(getattr, builtins_, "get"), "exec")
    return {
        "os.system": pickle.dumps(_Call(os.system, f"touch {canary}")),
        "Path.touch": pickle.dumps(_Call(Path.touch, canary)),
        # Only admitted names on the way (getattr, IntervalTrigger), yet it reaches exec.
        "getattr chain": pickle.dumps(_Call(exec_, f"open({str(canary)!r}, 'w').close()")),
    }


def job_state(job_id: str, *, func: str = FUNC, args=None, executor: str = "default", trigger=None,
              next_run_time: datetime | None = None) -> dict:
    """A job state in APScheduler's shape, every value of an admitted class."""
    return {
        "version": 1, "id": job_id, "func": func,
        "trigger": trigger or IntervalTrigger(seconds=2, timezone=ZoneInfo("UTC")),
        "executor": executor, "args": (job_id,) if args is None else args, "kwargs": {}, "name": job_id,
        "misfire_grace_time": 3600, "coalesce": True, "max_instances": 1,
        "next_run_time": next_run_time or datetime.now(timezone.utc) - timedelta(minutes=1),
    }


def os_system_job(canary: Path) -> bytes:
    """A well-formed job whose function is ``os.system``: it would run when due, not when loaded."""
    return pickle.dumps(job_state(INTRUDER, func="os:system", args=(f"touch {canary}",)))


def write_row(engine, job_id: str, state: bytes, *, due: bool = True) -> None:
    next_run = (datetime.now(timezone.utc) - timedelta(minutes=1)).timestamp() if due else None
    with engine.begin() as conn:
        updated = conn.execute(text(f"UPDATE {TABLE} SET job_state = :s, next_run_time = :n WHERE id = :i"),
                               {"s": state, "n": next_run, "i": job_id}).rowcount
        if not updated:
            conn.execute(text(f"INSERT INTO {TABLE} (id, next_run_time, job_state) VALUES (:i, :n, :s)"),
                         {"s": state, "n": next_run, "i": job_id})


def stored_rows(engine) -> dict[str, bytes]:
    with engine.connect() as conn:
        return {row.id: bytes(row.job_state) for row in conn.execute(text(f"SELECT id, job_state FROM {TABLE}"))}


def seeded(engine, settings: Settings | None = None) -> None:
    schedule_table(settings or Settings(), engine).sync()


@pytest.fixture
def canary(tmp_path: Path) -> Path:
    return tmp_path / "ran-code-from-the-database"


def test_the_payloads_do_run_code_under_plain_pickle(canary):
    """So that the cases below, seeing no canary, show something: each payload is live."""
    for name, payload in payloads(canary).items():
        pickle.loads(payload)  # noqa: S301 - the point of the test
        assert canary.exists(), name
        canary.unlink()


# -- the store: refused, named, kept; the other jobs load --------------------------------------
@pytest.mark.parametrize("payload", ["os.system", "Path.touch", "getattr chain"])
def test_a_hostile_row_is_refused_named_and_kept_and_the_other_jobs_load(db, canary, payload):
    seeded(db.engine)
    write_row(db.engine, VICTIM, payloads(canary)[payload])
    before = stored_rows(db.engine)

    store = schedule_table(Settings(), db.engine)
    listed = store.all()
    assert not canary.exists()
    assert stored_rows(db.engine) == before
    assert set(listed) == set(JOB_IDS) - {VICTIM}
    assert VICTIM in store.refused and "no job of ours holds" in store.refused[VICTIM]
    assert store.get(VICTIM) is None
    with pytest.raises(RefusedJobState, match=f"'{VICTIM}' refused"):
        store._store.lookup_job(VICTIM)
    assert store.sync() == []  # the row is neither overwritten nor removed
    assert not canary.exists()
    assert stored_rows(db.engine) == before


def test_apschedulers_own_store_deletes_the_row_ours_keeps(db, canary):
    """The reason ``_get_jobs`` is overridden: the base class drops the evidence and the job."""
    seeded(db.engine)
    write_row(db.engine, VICTIM, pickle.dumps({"not": "a job"}))
    ours = SafeJobStore(engine=db.engine, tablename=TABLE, functions={FUNC})
    ours.start(BackgroundScheduler(), "default")
    ours.get_all_jobs()
    assert VICTIM in stored_rows(db.engine)
    base = SQLAlchemyJobStore(engine=db.engine, tablename=TABLE)
    base.start(BackgroundScheduler(), "default")
    base.get_all_jobs()
    assert VICTIM not in stored_rows(db.engine)


@pytest.mark.parametrize("state, reason", [
    (job_state(VICTIM, func="os:system", args=("true",)), "function 'os:system' is not one of ours"),
    (job_state("reset_periodic_tasks"), "it holds the job 'reset_periodic_tasks'"),
    (job_state(VICTIM, executor="elsewhere"), "executor 'elsewhere' is not one of ours"),
    (job_state(VICTIM, trigger=datetime(2030, 1, 1, tzinfo=timezone.utc)), "its trigger is a datetime"),
    # Its __setstate__ imports the class each inner trigger names.
    (job_state(VICTIM, trigger=OrTrigger([IntervalTrigger(seconds=2)])), "apscheduler.triggers.combining.OrTrigger"),
    ({**job_state(VICTIM), "extra": 1}, "not the state of an APScheduler 3 job"),
], ids=["function", "id", "executor", "trigger type", "OrTrigger", "shape"])
def test_a_state_of_admitted_classes_but_not_of_our_jobs_is_refused(db, state, reason):
    seeded(db.engine)
    blob = pickle.dumps(state)
    write_row(db.engine, VICTIM, blob)
    store = schedule_table(Settings(), db.engine)
    assert VICTIM not in store.all()
    assert reason in store.refused[VICTIM]
    assert stored_rows(db.engine)[VICTIM] == blob


def test_build_cannot_change_a_class_for_the_whole_process(db):
    # BaseField (admitted) then BUILD with (None, {"REAL": 7}): setattr on the class itself.
    blob = b"\x80\x02capscheduler.triggers.cron.fields\nBaseField\nN}X\x04\x00\x00\x00REALK\x07s\x86b."
    seeded(db.engine)
    write_row(db.engine, VICTIM, blob)
    store = schedule_table(Settings(), db.engine)
    assert VICTIM not in store.all()
    assert "sets attributes of <class" in store.refused[VICTIM]
    assert fields.BaseField.REAL is True
    try:  # and the payload is live
        pickle.loads(blob)  # noqa: S301
        assert fields.BaseField.REAL == 7
    finally:
        fields.BaseField.REAL = True


def test_a_refused_due_row_does_not_keep_waking_the_scheduler(db, canary):
    seeded(db.engine)
    write_row(db.engine, VICTIM, payloads(canary)["os.system"], due=True)
    store = SafeJobStore(engine=db.engine, tablename=TABLE, functions={FUNC})
    store.start(BackgroundScheduler(), "default")
    now = datetime.now(timezone.utc)
    assert VICTIM not in {job.id for job in store.get_due_jobs(now)}
    assert store.get_next_run_time() > now  # the next good job, not the refused row's past time
    assert set(store.refused) == {VICTIM}


def test_a_fixed_row_is_no_longer_reported(db, canary):
    seeded(db.engine)
    write_row(db.engine, VICTIM, payloads(canary)["os.system"])
    store = schedule_table(Settings(), db.engine)
    store.all()
    assert VICTIM in store.refused
    with db.engine.begin() as conn:
        conn.execute(text(f"DELETE FROM {TABLE} WHERE id = :i"), {"i": VICTIM})
    assert "scheduled" in " ".join(store.sync())
    assert store.refused == {} and VICTIM in store.all()


# -- our own jobs load ------------------------------------------------------------------------
TRIGGER_VARIANTS = [
    {},
    {"timezone": "UTC"},
    {"timezone": "America/New_York", "jobs": {
        "reset_periodic_tasks": {"trigger": {"cron": "*/5 9-17 * * 1-5"}},
        "check_task_warnings": {"trigger": {"cron": "15,45 0 last jan-mar sun"}},
        "update_time_progress": {"trigger": {"every": 2}},
        "cleanup_old_data": {"trigger": {"every": "P1D"}},
    }},
]


@pytest.mark.parametrize("variant", range(len(TRIGGER_VARIANTS)))
def test_our_real_jobs_round_trip_through_the_restricted_unpickler(db, variant):
    settings = Settings.model_validate(TRIGGER_VARIANTS[variant])
    writer = schedule_table(settings, db.engine)
    writer.sync()
    writer.pause("update_time_progress")  # a paused job: next_run_time None
    written = {job.id: job for job in writer._store.get_all_jobs()}

    asked = set()
    real_find_class = pickle.Unpickler.find_class

    class Recording(pickle.Unpickler):
        def find_class(self, module, name):
            asked.add((module, name))
            return real_find_class(self, module, name)

    for blob in stored_rows(db.engine).values():
        Recording(io.BytesIO(blob)).load()
    assert asked <= set(ADMITTED), asked - set(ADMITTED)

    reader = SafeJobStore(engine=db.engine, tablename=TABLE, functions={FUNC})
    reader.start(BackgroundScheduler(timezone=settings.tz), "default")
    loaded = {job.id: job for job in reader.get_all_jobs()}
    assert reader.refused == {} and set(loaded) == set(JOB_IDS)
    for job_id, job in loaded.items():
        before, after = written[job_id].__getstate__(), job.__getstate__()
        assert signature(after.pop("trigger")) == signature(before.pop("trigger"))
        assert after == before
    assert loaded["update_time_progress"].next_run_time is None


# -- every face: the command line, the console's service, taskconsole run ---------------------
def test_cli_jobs_list_status_and_pause_do_not_run_it_and_status_names_the_row(db, cli, canary):
    seeded(db.engine)
    write_row(db.engine, VICTIM, payloads(canary)["os.system"])
    write_row(db.engine, INTRUDER, payloads(canary)["getattr chain"])
    before = stored_rows(db.engine)

    listed = cli("jobs", "list", "--json")
    assert not canary.exists()
    assert listed.returncode == 0, listed.stderr
    assert {job["id"] for job in json.loads(listed.stdout)} == set(JOB_IDS)
    states = {job["id"]: (job["state"], job["next_run_time"]) for job in json.loads(listed.stdout)}
    assert states[VICTIM] == ("refused", None), states  # never shown as scheduled: it will not fire
    assert states["update_time_progress"][0] == "scheduled", states
    status = cli("status")
    assert not canary.exists()
    assert status.returncode == 0, status.stderr
    assert f"refused:  job store row '{VICTIM}' will not load" in status.stdout
    assert f"'{INTRUDER}'" in status.stdout and "posix.system" in status.stdout
    status_json = json.loads(cli("status", "--json").stdout)
    assert {row["id"] for row in status_json["refused_job_rows"]} == {VICTIM, INTRUDER}
    paused = cli("jobs", "pause", VICTIM)
    assert paused.returncode != 0 and "Traceback" not in paused.stderr
    assert f"'{VICTIM}' refused" in paused.stderr
    assert cli("jobs", "pause", "update_time_progress").returncode == 0

    assert not canary.exists()
    after = stored_rows(db.engine)
    assert {i: after[i] for i in (VICTIM, INTRUDER)} == {i: before[i] for i in (VICTIM, INTRUDER)}


def test_the_consoles_scheduler_does_not_run_it_and_the_other_jobs_fire(db, canary):
    """The console's scheduler (Service.start_scheduler): a row bad before it starts, one written while it leads."""
    settings = Settings.model_validate({"jobs": every(1)})
    seeded(db.engine, settings)
    write_row(db.engine, VICTIM, payloads(canary)["Path.touch"])
    service = Service(settings, db.engine)
    service.start_scheduler(kind="console")
    try:
        assert service.live is not None
        two_more_firings(db.engine)  # it runs, and has read the victim's row
        write_row(db.engine, INTRUDER, os_system_job(canary))  # due at once, read by the running scheduler
        before = stored_rows(db.engine)
        two_more_firings(db.engine)
        assert not canary.exists()
        assert {job.id for job in service.dashboard().jobs} == set(JOB_IDS)
        assert set(service.store.refused) == {VICTIM, INTRUDER}
    finally:
        service.stop_scheduler()
    assert not canary.exists()
    assert VICTIM not in fired(db.engine)
    after = stored_rows(db.engine)
    assert {i: after[i] for i in (VICTIM, INTRUDER)} == {i: before[i] for i in (VICTIM, INTRUDER)}


def every(seconds: int) -> dict:
    """Jobs settings: all four fire every ``seconds``, without retries."""
    return {job_id: {"trigger": {"every": seconds}, "retries": 0} for job_id in JOB_IDS}


def fired(engine) -> dict[str, int]:
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT job_id, count(*) FROM job_runs WHERE trigger_kind = 'scheduled' "
                                 "AND status = 'success' GROUP BY job_id")).all()
    return dict(rows)


def two_more_firings(engine, proc: Proc | None = None) -> None:
    """Waits until each job but the victim has run twice more on schedule."""
    start = fired(engine)

    def done() -> bool:
        now = fired(engine)
        return all(now.get(j, 0) >= start.get(j, 0) + 2 for j in JOB_IDS if j != VICTIM)

    wait_for(done, timeout=60, proc=proc, what="two more scheduled runs of each job but the victim")


def test_taskconsole_run_does_not_run_it_and_the_other_jobs_fire(db, cli, canary, tmp_path):
    """A real ``taskconsole run``: a row bad before it starts, one written while it leads."""
    seeded(db.engine)
    write_row(db.engine, VICTIM, payloads(canary)["os.system"])
    config = tmp_path / "every-2s.yaml"
    config.write_text(yaml.safe_dump({"jobs": every(2)}))
    env = {k: v for k, v in os.environ.items() if not k.startswith("TASKCONSOLE_")}
    env.update(TASKCONSOLE_DATABASE_URL=db.url, TASKCONSOLE_CONFIG=str(config))
    proc = Proc(("run",), cwd=tmp_path, env=env, name="run")
    try:
        two_more_firings(db.engine, proc)
        write_row(db.engine, INTRUDER, os_system_job(canary))
        before = stored_rows(db.engine)
        two_more_firings(db.engine, proc)
        assert not canary.exists()
        status = json.loads(cli("status", "--json").stdout)  # while it leads
        assert {row["id"] for row in status["refused_job_rows"]} == {VICTIM, INTRUDER}
        proc.signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0, proc.stderr[-3000:]
    finally:
        proc.end()
    assert not canary.exists()
    assert VICTIM not in fired(db.engine)
    after = stored_rows(db.engine)
    assert {i: after[i] for i in (VICTIM, INTRUDER)} == {i: before[i] for i in (VICTIM, INTRUDER)}
    assert f"job store row '{VICTIM}' refused, kept and not run" in proc.stderr
    assert "function 'os:system' is not one of ours" in proc.stderr
    assert "Traceback" not in proc.stderr
    # Logged once per store object, not at every wake-up of the scheduler.
    assert proc.stderr.count(f"job store row '{VICTIM}' refused") <= 3, proc.stderr[-3000:]


# -- what the override relies on in APScheduler 3.11 -----------------------------------------
# safe_jobstore copies these methods' queries; if APScheduler changes one, re-read it and update
# SafeJobStore before changing the digest here.
PINNED_SOURCES = {
    "_reconstitute_job": "0f0ae12bb4a91197",
    "_get_jobs": "1725eea09227e6f6",
    "lookup_job": "f27e682e48b80bf9",
    "get_next_run_time": "ec1d358cd9ea7730",
}


def _digest(name: str) -> str:
    return hashlib.sha256(inspect.getsource(getattr(SQLAlchemyJobStore, name)).encode()).hexdigest()[:16]


def test_pin_the_methods_overridden_have_the_expected_signatures_and_source():
    signatures = {name: str(inspect.signature(getattr(SQLAlchemyJobStore, name))) for name in PINNED_SOURCES}
    assert signatures == {"_reconstitute_job": "(self, job_state)", "_get_jobs": "(self, *conditions)",
                          "lookup_job": "(self, job_id)", "get_next_run_time": "(self)"}
    assert {name: _digest(name) for name in PINNED_SOURCES} == PINNED_SOURCES


def test_pin_job_state_is_unpickled_only_in_reconstitute_job():
    tree = ast.parse(inspect.getsource(apscheduler_sqlalchemy))
    loads = [node for node in ast.walk(tree)
             if isinstance(node, ast.Attribute) and node.attr in ("loads", "load", "Unpickler")]
    assert len(loads) == 1
    method = next(node for node in ast.walk(tree)
                  if isinstance(node, ast.FunctionDef) and node.name == "_reconstitute_job")
    assert loads[0] in list(ast.walk(method))
    base_source = inspect.getsource(sys.modules["apscheduler.jobstores.base"])
    assert "pickle" not in base_source


def test_pin_every_read_goes_through_reconstitute_job_once_per_row(db):
    seeded(db.engine)
    calls: list[bytes] = []

    class Counting(SQLAlchemyJobStore):
        def _reconstitute_job(self, job_state):
            calls.append(job_state)
            return super()._reconstitute_job(job_state)

    store = Counting(engine=db.engine, tablename=TABLE)
    store.start(BackgroundScheduler(), "default")
    assert len(store.get_all_jobs()) == 4 and len(calls) == 4
    calls.clear()
    far = datetime.now(timezone.utc) + timedelta(days=400)
    assert len(store.get_due_jobs(far)) == 4 and len(calls) == 4
    calls.clear()
    assert store.lookup_job(VICTIM).id == VICTIM and len(calls) == 1


def test_pin_job_state_shape_and_the_unpickler_hooks():
    job = Job(BackgroundScheduler(), id="x", func=FUNC, args=("x",), kwargs={}, name="x",
              trigger=IntervalTrigger(seconds=2), executor="default", misfire_grace_time=1, coalesce=True,
              max_instances=1, next_run_time=None)
    state = job.__getstate__()
    assert set(state) == set(_SHAPE) and state["version"] == 1
    # The pure-Python unpickler dispatches BUILD to load_build, which the override replaces.
    assert pickle._Unpickler.dispatch[pickle.BUILD[0]] is pickle._Unpickler.load_build  # noqa: SLF001
