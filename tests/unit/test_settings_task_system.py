"""Settings section ``task_system``: defaults, partial overrides, word lists, and refusals naming the key."""

from pathlib import Path

import pytest

from console.settings import Settings, SettingsError, load_settings
from tests.integration.helpers import assert_one_clean_error, invoke


def load(tmp_path: Path, text: str) -> Settings:
    path = tmp_path / "settings.yaml"
    path.write_text(text, encoding="utf-8")
    return load_settings(path, env={})


def test_defaults_are_the_design_documents_names():
    ts = Settings().task_system
    assert (ts.tables.tasks, ts.tables.users, ts.tables.notifications) == ("tasks", "users", "notifications")
    assert dict(ts.columns.tasks) == {k: k for k in (
        "id", "title", "category", "status", "progress", "time_progress", "expected_start_time", "expected_end_time",
        "actual_start_time", "actual_end_time", "current_handler_id", "created_at", "updated_at", "recurrence")}
    # email (issue #28) is optional and absent from the design document's users: null by default.
    assert dict(ts.columns.users) == {"id": "id", "name": "name", "is_admin": "is_admin", "email": None}
    assert dict(ts.columns.notifications) == {k: k for k in (
        "id", "user_id", "type", "title", "content", "task_id", "is_read", "created_at")}
    assert ts.values.status.words() == ("new", "processing", "completed", "closed")
    assert ts.values.category.periodic == ("periodic",)
    assert ts.naive_timestamps == "utc"


def test_a_partial_section_overrides_only_what_it_names(tmp_path):
    ts = load(tmp_path, "task_system:\n  tables: {users: staff}\n  columns:\n    users: {name: username}\n"
                        "    tasks: {recurrence: null}\n  values:\n    status: {processing: 处理中}\n"
                        "  naive_timestamps: local\n").task_system
    assert ts.tables.users == "staff" and ts.tables.tasks == "tasks" and ts.tables.notifications == "notifications"
    assert ts.columns.users.name == "username" and ts.columns.users.is_admin == "is_admin"
    assert ts.columns.tasks.recurrence is None and ts.columns.tasks.status == "status"
    assert ts.columns.notifications == Settings().task_system.columns.notifications
    assert ts.values.status.processing == ("处理中",) and ts.values.status.new == ("new",)
    assert ts.values.category.periodic == ("periodic",)
    assert ts.naive_timestamps == "local"


def test_values_take_a_word_or_a_list_all_read_first_written(tmp_path):
    ts = load(tmp_path, "task_system:\n  values:\n    status: {closed: [已关闭, 已归档], new: 新建}\n"
                        "    category: {periodic: [定时周期任务, 周期]}\n").task_system
    assert ts.values.status.closed == ("已关闭", "已归档")
    assert ts.values.status.new == ("新建",)
    assert ts.values.status.words("completed", "closed") == ("completed", "已关闭", "已归档")
    assert ts.values.category.periodic == ("定时周期任务", "周期")


def test_an_empty_section_keeps_the_defaults(tmp_path):
    assert load(tmp_path, "task_system:\n").task_system == Settings().task_system
    assert load(tmp_path, "task_system:\n  columns:\n    tasks:\n").task_system == Settings().task_system


@pytest.mark.parametrize(
    "text, key, words",
    [
        ("task_system:\n  colour: blue\n", "task_system.colour", "unknown key"),
        ("task_system:\n  tables: {task: t}\n", "task_system.tables.task", "unknown key"),
        ("task_system:\n  columns:\n    tasks: {priority: p}\n", "task_system.columns.tasks.priority", "unknown key"),
        ("task_system:\n  columns:\n    projects: {}\n", "task_system.columns.projects", "unknown key"),
        ("task_system:\n  values:\n    status: {archived: a}\n", "task_system.values.status.archived", "unknown key"),
        ("task_system:\n  values:\n    category: {normal: n}\n", "task_system.values.category.normal", "unknown key"),
        ("task_system:\n  naive_timestamps: Asia/Shanghai\n", "task_system.naive_timestamps", "'utc' or 'local'"),
        ("task_system:\n  naive_timestamps: UTC\n", "task_system.naive_timestamps", "'utc' or 'local'"),
        ("task_system:\n  columns:\n    tasks: {status: null}\n", "task_system.columns.tasks.status", "cannot be null"),
        ("task_system:\n  tables: {tasks: null}\n", "task_system.tables.tasks", "cannot be null"),
        ("task_system:\n  columns:\n    tasks: {title: ''}\n", "task_system.columns.tasks.title", "without leading"),
        ("task_system:\n  columns:\n    tasks: {title: [a]}\n", "task_system.columns.tasks.title", "string"),
        ("task_system:\n  tables: {tasks: " + "t" * 64 + "}\n", "task_system.tables.tasks", "63 bytes"),
        ("task_system:\n  columns:\n    tasks: {created_at: ts, updated_at: ts}\n", "task_system.columns.tasks",
         "created_at and updated_at are both mapped to the column 'ts'"),
        ("task_system:\n  tables: {users: tasks}\n", "task_system.tables", "three different tables"),
        ("task_system:\n  values:\n    status: {new: []}\n", "task_system.values.status.new", "at least one word"),
        ("task_system:\n  values:\n    status: {new: ''}\n", "task_system.values.status.new", "empty word"),
        ("task_system:\n  values:\n    status: {new: 1}\n", "task_system.values.status.new", "a word or a list"),
        ("task_system:\n  values:\n    status: {new: [a, 2]}\n", "task_system.values.status.new", "not int 2"),
        ("task_system:\n  values:\n    status: {new: [a, a]}\n", "task_system.values.status.new", "same word twice"),
        ("task_system:\n  values:\n    status: {new: [新建, done], completed: done}\n", "task_system.values.status",
         "'done' is given for both new and completed"),
        ("task_system: [tasks]\n", "task_system", "valid dictionary"),
    ],
)
def test_bad_values_name_the_key(tmp_path, text, key, words):
    with pytest.raises(SettingsError) as err:
        load(tmp_path, text)
    message = str(err.value)
    assert f": {key}: " in message and words in message, message


def test_a_bad_section_is_exit_2_on_the_command_line(tmp_path):
    # Any command, before it opens a database: one line naming the key, no traceback.
    config = tmp_path / "bad.yaml"
    config.write_text("task_system:\n  columns:\n    tasks: {priority: p}\n", encoding="utf-8")
    proc = invoke(("db", "check"), url=f"sqlite:///{tmp_path / 'none.db'}", cwd=tmp_path, config=config)
    line = assert_one_clean_error(proc)
    assert "task_system.columns.tasks.priority: unknown key" in line
    assert not (tmp_path / "none.db").exists()
