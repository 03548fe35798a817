"""A job whose stored trigger is not the settings' says so (issue #29, item 9): after a run with a
5-second trigger, `jobs list` under the shipped settings showed "every 30 min" beside the next run
5 s away. The list now shows the trigger that fires (the job store's) and marks it, in the text,
the JSON and the API's list, until a leader re-syncs the store."""

from __future__ import annotations

import json

from console.service import SCHEDULE_DIFFERS, Service
from console.settings import Settings


def fast_settings() -> Settings:
    return Settings.model_validate({"jobs": {"update_time_progress": {"trigger": {"every": 5}}}})


def test_jobs_list_marks_a_stored_trigger_that_differs_from_the_settings(db, cli):
    Service(fast_settings(), db.engine).store.sync()  # as the last leader, run with a 5 s trigger, left it
    proc = cli("jobs", "list", "--json")  # the shipped settings: every 30 min
    assert proc.returncode == 0, proc.stderr
    jobs = {j["id"]: j for j in json.loads(proc.stdout)}
    fast = jobs["update_time_progress"]
    assert (fast["trigger"], fast["schedule_differs"], fast["settings_trigger"]) == ("every 5 s", True, "every 30 min")
    assert not jobs["check_task_warnings"]["schedule_differs"]
    assert jobs["check_task_warnings"]["trigger"] == jobs["check_task_warnings"]["settings_trigger"] == "hourly, on the hour"
    text = cli("jobs", "list").stdout
    assert "every 5 s *" in text
    assert f"* update_time_progress: {SCHEDULE_DIFFERS} (settings: every 30 min)" in text


def test_a_leader_with_the_settings_re_syncs_and_the_mark_goes(db):
    Service(fast_settings(), db.engine).store.sync()
    service = Service(Settings(), db.engine)
    assert {j.id: j.schedule_differs for j in service.jobs()}["update_time_progress"]
    service.store.sync()  # what a leader does when it starts
    job = {j.id: j for j in Service(Settings(), db.engine).jobs()}["update_time_progress"]
    assert (job.trigger, job.schedule_differs) == ("every 30 min", False)
