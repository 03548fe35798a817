"""Settings section ``task_system``: the task system's own table names, column names and words.

taskconsole runs over a task system's existing ``tasks``, ``users`` and ``notifications`` tables.
This section says what that system calls them, what its status and category words are, and how
its ``timestamp without time zone`` columns are to be read. The defaults are the names of
DESIGN.md (taskconsole's own demo schema). Every key is optional: a partial section overrides
only what it names; an unknown key is refused, naming it.

Kept apart from ``console.settings`` (which imports it) so that file stays small; nothing here
touches a database (``console.db.task_tables`` builds tables from it, ``console.db.mapping_check``
compares it with a live schema).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, model_validator

# PostgreSQL keeps the first 63 bytes of an identifier: a longer name could never match a table.
MAX_NAME_BYTES = 63
STATUS_NAMES = ("new", "processing", "completed", "closed")


def _name(value: Any) -> Any:
    """A table or column name: non-empty text that PostgreSQL would not cut short."""
    if value is None:
        raise ValueError("cannot be null: taskconsole needs it (only the optional columns in settings.yaml may be)")
    return _optional_name(value)


def _optional_name(value: Any) -> Any:
    """A name, or None for a column the task system does not have."""
    if not isinstance(value, str):
        return value  # pydantic reports the wrong type
    if not value.strip() or value != value.strip():
        raise ValueError("must be a name without leading or trailing spaces")
    if any(ord(ch) < 32 or ord(ch) == 127 for ch in value):
        raise ValueError("must not contain control characters")
    if len(value.encode("utf-8")) > MAX_NAME_BYTES:
        raise ValueError(f"longer than the {MAX_NAME_BYTES} bytes PostgreSQL keeps of a name")
    return value


def _words(value: Any) -> Any:
    """One word or a list of words, as a tuple: all are read, the first is written."""
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, (list, tuple)):
        raise ValueError("must be a word or a list of words")
    if not value:
        raise ValueError("must name at least one word")
    for word in value:
        if not isinstance(word, str):
            raise ValueError(f"must be words (text), not {type(word).__name__} {word!r}")
        if not word:
            raise ValueError("an empty word matches nothing; leave the key out to keep the default")
    if len(set(value)) != len(value):
        raise ValueError("names the same word twice")
    return tuple(value)


Name = Annotated[str, BeforeValidator(_name)]
OptionalName = Annotated[str | None, BeforeValidator(_optional_name)]
Words = Annotated[tuple[str, ...], BeforeValidator(_words)]


class _Section(BaseModel):
    """Strict and frozen like every settings model; an empty YAML mapping (null) keeps the defaults."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    @model_validator(mode="before")
    @classmethod
    def _null_is_empty(cls, value: Any) -> Any:
        return {} if value is None else value


class TableNames(_Section):
    """What the task system calls its three tables."""

    tasks: Name = "tasks"
    """The tasks table."""
    users: Name = "users"
    """The users table (handlers and admins)."""
    notifications: Name = "notifications"
    """The notifications table the jobs write to."""

    @model_validator(mode="after")
    def _distinct(self) -> "TableNames":
        if len({self.tasks, self.users, self.notifications}) != 3:
            raise ValueError("tasks, users and notifications must be three different tables")
        return self


class _Columns(_Section):
    """A table's columns: each canonical name (the key) mapped to the live column's name."""

    @model_validator(mode="after")
    def _distinct(self) -> "_Columns":
        seen: dict[str, str] = {}
        for key, name in self:
            if name is None:
                continue
            if name in seen:
                raise ValueError(f"{seen[name]} and {key} are both mapped to the column {name!r}")
            seen[name] = key
        return self


class TaskColumns(_Columns):
    """Columns of the tasks table."""

    id: Name = "id"
    """Integer key."""
    title: Name = "title"
    """Text put into notifications."""
    category: Name = "category"
    """Text; ``values.category.periodic`` marks a periodic task."""
    status: Name = "status"
    """Text; one of the words of ``values.status``."""
    progress: Name = "progress"
    """Work progress in percent (integer or numeric)."""
    time_progress: OptionalName = "time_progress"
    """Stored time progress in percent (integer or numeric); null: the time-progress job has
    nothing to store (warnings and the console compute it from the window)."""
    expected_start_time: Name = "expected_start_time"
    """Start of the expected window (timestamp)."""
    expected_end_time: Name = "expected_end_time"
    """End of the expected window (timestamp)."""
    actual_start_time: OptionalName = "actual_start_time"
    """When work started (timestamp); cleared by a reset. Null: nothing to clear."""
    actual_end_time: Name = "actual_end_time"
    """When work finished (timestamp); a periodic task is reset a period after it."""
    current_handler_id: Name = "current_handler_id"
    """The user the notifications go to (integer, a users id)."""
    created_at: OptionalName = "created_at"
    """Creation time (timestamp); only shown. Null: not shown."""
    updated_at: Name = "updated_at"
    """Last change (timestamp); cleanup ages closed tasks by it, a reset sets it."""
    recurrence: OptionalName = "recurrence"
    """The task's own recurrence rule (text). Null: the task system has no such column; rules
    are kept in a table of taskconsole's own (``tasks set-recurrence``)."""


class UserColumns(_Columns):
    """Columns of the users table."""

    id: Name = "id"
    """Integer key."""
    name: OptionalName = "name"
    """Shown as a task's handler. Null: the console shows the user's id."""
    is_admin: Name = "is_admin"
    """Boolean or 0/1; failure alerts go to every admin."""
    email: OptionalName = None
    """The user's address for personal channels (``channels[].to: handler``, ``{email}`` in its URL).
    Null: the task system has none, and no channel is personal."""


class NotificationColumns(_Columns):
    """Columns of the notifications table."""

    id: Name = "id"
    """Integer key, generated by the database (serial, identity or SQLite's rowid)."""
    user_id: Name = "user_id"
    """The recipient (integer, a users id)."""
    type: Name = "type"
    """Text; must hold the longest of ``notifications.<kind>.type``."""
    title: Name = "title"
    """Text."""
    content: Name = "content"
    """Text."""
    task_id: Name = "task_id"
    """The task the notification is about (integer, a tasks id)."""
    is_read: Name = "is_read"
    """Boolean or 0/1; cleanup deletes read notifications by age."""
    created_at: OptionalName = "created_at"
    """When it was sent (timestamp). Null: left to the database's default, and cleanup then has no
    age to delete read notifications by."""


class Columns(_Section):
    """The columns of each table."""

    tasks: TaskColumns = TaskColumns()
    users: UserColumns = UserColumns()
    notifications: NotificationColumns = NotificationColumns()


class StatusWords(_Section):
    """The words the task system stores in ``tasks.status``; each a word or a list of words."""

    new: Words = ("new",)
    """Not started; what a reset writes."""
    processing: Words = ("processing",)
    """In progress: the tasks that get warnings and time progress."""
    completed: Words = ("completed",)
    """Done; a periodic task is reset from it."""
    closed: Words = ("closed",)
    """Closed; a periodic task is reset from it, others are deleted by cleanup when old."""

    @model_validator(mode="after")
    def _one_status_per_word(self) -> "StatusWords":
        owner: dict[str, str] = {}
        for status in STATUS_NAMES:
            for word in getattr(self, status):
                if word in owner:
                    raise ValueError(f"the word {word!r} is given for both {owner[word]} and {status}")
                owner[word] = status
        return self

    def words(self, *statuses: str) -> tuple[str, ...]:
        """Every word of the given statuses (all of them when none is given)."""
        return tuple(w for s in (statuses or STATUS_NAMES) for w in getattr(self, s))


class CategoryWords(_Section):
    """The words the task system stores in ``tasks.category``."""

    periodic: Words = ("periodic",)
    """Marks a periodic task; any other category is an ordinary task."""


class Values(_Section):
    """The task system's words; all words of a key are read, the first is written."""

    status: StatusWords = StatusWords()
    category: CategoryWords = CategoryWords()


class TaskSystemSettings(_Section):
    """The task system's tables, columns and words (defaults: the names of DESIGN.md)."""

    tables: TableNames = TableNames()
    """Table names."""
    columns: Columns = Columns()
    """Column names per table; null for an optional column the task system does not have."""
    values: Values = Values()
    """Status and category words."""
    naive_timestamps: Literal["utc", "local"] = "utc"
    """How a ``timestamp without time zone`` column (and every SQLite timestamp) is read and
    written: as UTC, or as the wall clock of the settings' timezone."""
