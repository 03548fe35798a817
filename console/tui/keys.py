"""Every action of the console, defined once: the bindings, the footer, help, the palette, the
``:`` command line and both languages are drawn from ``KEYS``.

An entry belongs to a screen (``main``, ``table`` for the main screen's tables, ``inspect`` for
every inspect screen, ``job`` for the job's, ``logs`` for the log view, ``stopping``, ``confirm``,
``help``). ``writes`` marks the actions that change something: refused, and said so, in
``--read-only`` (the app's ``permitted`` is the one place that rule is applied). ``per_job``
actions also appear in the palette once per job. Entries with no action are Textual's own (tab,
ctrl+p), listed in help only. ``command`` names the action on the ``:`` command line, where it
takes ``arg``; an entry with a command and no keys is reached only from there (``:pause JOB``).

An action given an argument (a job id, a task id, a word) acts on it; without one it acts on what
is selected: ``t`` is ``trigger()``, ``:run cleanup_old_data`` and the palette's "Run
cleanup_old_data" are ``trigger("cleanup_old_data")``.
"""

from __future__ import annotations

from dataclasses import dataclass

from textual.binding import Binding


@dataclass(frozen=True)
class Key:
    id: str
    keys: str  # Textual key names, comma-separated
    action: str | None  # None: a key Textual handles itself, shown in help only
    label: str  # the footer's word
    description: str  # help, the palette and the tooltip
    screen: str = "main"
    writes: bool = False
    show: bool = True  # in the footer
    display: str | None = None  # how the key is written on screen, where not its name
    priority: bool = False
    per_job: bool = False
    zh_label: str = ""
    zh_description: str = ""
    command: str = ""  # its name on the : command line; "" for none
    arg: str = ""  # what the command takes: "" (nothing), "job", "task", "text", "level", "sort"

    @property
    def shown_as(self) -> str:
        return self.display or self.keys.split(",")[0]

    def label_in(self, locale: str) -> str:
        return self.zh_label or self.label if locale == "zh_CN" else self.label

    def description_in(self, locale: str) -> str:
        return self.zh_description or self.description if locale == "zh_CN" else self.description


KEYS: tuple[Key, ...] = (
    Key("trigger", "t", "trigger", "Run", "run the selected job now, recorded as manual (cleanup asks first)",
        writes=True, per_job=True, zh_label="运行", zh_description="立即运行所选任务（记为手动；清理任务先确认）",
        command="run", arg="job"),
    Key("toggle-job", "p", "toggle_job", "Pause", "pause or resume the selected job", writes=True, per_job=True,
        zh_label="暂停", zh_description="暂停或恢复所选任务"),
    Key("pause", "", "pause_job", "", "pause a job", writes=True, show=False, zh_description="暂停任务",
        command="pause", arg="job"),
    Key("resume", "", "resume_job", "", "resume a paused job", writes=True, show=False, zh_description="恢复暂停的任务",
        command="resume", arg="job"),
    Key("toggle-scheduler", "P", "toggle_scheduler", "Pause all", "pause or resume the whole scheduler",
        writes=True, display="P", zh_label="全部暂停", zh_description="暂停或恢复整个调度器"),
    Key("pause-all", "", "pause_all", "", "pause the whole scheduler (asks first)", writes=True, show=False,
        zh_description="暂停整个调度器（先确认）", command="pause-all"),
    Key("resume-all", "", "resume_all", "", "resume the whole scheduler", writes=True, show=False,
        zh_description="恢复整个调度器", command="resume-all"),
    Key("inspect", "enter", "inspect", "Inspect", "inspect the selected job or task", per_job=True,
        zh_label="查看", zh_description="查看所选任务的详情", command="inspect", arg="job"),
    Key("preview", "v", "preview", "Preview", "preview the selected job: what it would change now", per_job=True,
        zh_label="预演", zh_description="预演所选任务：现在运行会改变什么", command="preview", arg="job"),
    Key("filter", "slash", "filter", "Filter", "filter the focused table (escape clears)", display="/",
        zh_label="筛选", zh_description="筛选当前表格（escape 清除）"),
    Key("command-line", "colon", "command_line", "Command", "the command line: every action by name, with completion",
        show=False, display=":", zh_label="命令", zh_description="命令行：按名称执行任何操作，可补全"),
    Key("go-to-task", "g", "go_to_task", "Go to", "go to a task by its id (type the id, then enter)",
        show=False, zh_label="转到", zh_description="按编号打开任务（输入编号后回车）", command="task", arg="task"),
    Key("search", "", "search", "", "search every processing task by title or id", show=False,
        zh_description="按标题或编号搜索全部处理中任务", command="search", arg="text"),
    Key("level", "", "near_level_named", "", "the near panel: one level (5, 10, 20), ahead, or all", show=False,
        zh_description="临近阈值面板：某一级别（5、10、20）、即将到达或全部", command="level", arg="level"),
    Key("near-sort", "s", "near_sort", "Sort", "sort the near panel: severity, next threshold, deadline, progress gap",
        show=False, zh_label="排序", zh_description="临近阈值面板排序：严重程度、下一阈值、截止时间、进度差",
        command="sort", arg="sort"),
    Key("near-all", "0", "near_level(0)", "All", "near panel: every level and the tasks ahead", show=False,
        zh_description="临近阈值面板：全部级别及即将到达阈值的任务"),
    Key("near-level-1", "1", "near_level(1)", "", "near panel: the most severe level only (5% by default)",
        show=False, zh_description="临近阈值面板：只看最严重的级别（默认 5%）"),
    Key("near-level-2", "2", "near_level(2)", "", "near panel: the second level only (10%)", show=False,
        zh_description="临近阈值面板：只看第二级（10%）"),
    Key("near-level-3", "3", "near_level(3)", "", "near panel: the third level only (20%)", show=False,
        zh_description="临近阈值面板：只看第三级（20%）"),
    Key("near-ahead", "4", "near_level(4)", "", "near panel: tasks not yet in a level, soonest threshold first",
        show=False, zh_description="临近阈值面板：尚未进入级别、最先到达阈值的任务"),
    Key("logs", "l", "logs", "Logs", "full-screen logs: follow, wrap, filter by level and by job",
        zh_label="日志", zh_description="全屏日志：跟随、换行、按级别和任务筛选", command="logs"),
    Key("warnings", "w", "warnings", "Warnings", "the warnings screen: sent per hour over 7 days by level, beside the "
        "next 24 h", show=False, zh_label="预警", zh_description="预警界面：近 7 天每小时按级别发送的预警，及未来 24 小时预测",
        command="warnings"),
    Key("audit", "a", "audit", "Audit", "the audit of manual actions: who did what, when, from where",
        show=False, zh_label="审计", zh_description="手动操作审计：谁在何时从何处做了什么", command="audit"),
    Key("notes", "n", "notifications", "Sent", "the notifications the jobs sent, by type and task", show=False,
        zh_label="通知", zh_description="任务发出的通知，可按类型和任务筛选", command="notifications"),
    Key("deliveries", "d", "deliveries", "Deliveries", "the deliveries to channels: channel, event, to whom, state, "
        "tries, last error", show=False, zh_label="投递", zh_description="发往通道的投递：通道、事件、接收人、状态、"
        "尝试次数、最后错误", command="deliveries"),
    Key("refresh", "r", "refresh", "Refresh", "refresh every panel now (they refresh by themselves too)", show=False,
        zh_label="刷新", zh_description="立即刷新所有面板", command="refresh"),
    Key("tab", "tab", None, "", "move between panels", zh_description="在面板之间切换"),
    Key("palette", "ctrl+p", None, "", "command palette", zh_description="命令面板"),
    Key("help", "question_mark", "help", "Help", "this help: every key", display="?",
        zh_label="帮助", zh_description="本帮助：所有按键", command="help"),
    Key("quit", "q", "quit_console", "Quit", "quit: the scheduler stops gracefully (asks while a job is running)",
        zh_label="退出", zh_description="退出：调度器平稳停止（有任务运行时先确认）", command="quit"),
    Key("quit-now", "ctrl+q,ctrl+c", "quit_console", "Quit", "quit (as q)", show=False, priority=True,
        display="ctrl+q", zh_label="退出", zh_description="退出（同 q）"),
    Key("close-filter", "escape", "close_filter", "", "clear the filter or the search", show=False,
        zh_description="清除筛选或搜索"),
    Key("table-inspect", "enter", "select_cursor", "Inspect", "inspect the selected row", screen="table",
        zh_label="查看"),
    Key("back", "escape", "app.pop_screen", "Back", "return to the main screen", screen="inspect", zh_label="返回"),
    Key("back-q", "q", "app.pop_screen", "Back", "return to the main screen", screen="inspect", show=False,
        zh_label="返回"),
    Key("job-run", "t", "run_this", "Run", "run this job now", screen="job", writes=True, zh_label="运行"),
    Key("job-preview", "v", "preview_this", "Preview", "what this job would change now", screen="job",
        zh_label="预演"),
    Key("job-refresh", "r", "reload", "Refresh", "reload this screen", screen="job", zh_label="刷新"),
    Key("run-log", "enter", "open_run", "Run log", "the selected run's whole log", screen="job",
        zh_label="运行日志", zh_description="所选运行的完整日志"),
    Key("log-level", "e", "cycle_level", "Level", "show every level, warnings and worse, or errors only",
        screen="logs", zh_label="级别", zh_description="显示全部、警告及以上或仅错误"),
    Key("log-job", "j", "cycle_job", "Job", "show every job, or one job's lines", screen="logs", zh_label="任务",
        zh_description="显示全部任务或某一任务的日志"),
    Key("log-wrap", "w", "toggle_wrap", "Wrap", "wrap long lines, or not", screen="logs", zh_label="换行",
        zh_description="长行换行与否"),
    Key("log-follow", "f", "toggle_follow", "Follow", "follow new lines, or stay where you are", screen="logs",
        zh_label="跟随", zh_description="跟随新行，或停在当前位置"),
    Key("log-back", "escape,q,l", "app.pop_screen", "Back", "return to the main screen", screen="logs",
        zh_label="返回"),
    Key("history-type", "t", "cycle_type", "Type", "notifications: cycle the type shown; deliveries: the state",
        screen="history", zh_label="类型", zh_description="通知：切换显示的类型；投递：切换状态"),
    Key("history-filter", "slash", "filter", "Filter", "filter the rows; on notifications, enter on a task id reads "
        "that task's", screen="history", display="/", zh_label="筛选", zh_description="筛选行；通知视图中输入任务编号回车读取该任务的通知"),
    Key("history-reload", "r", "reload", "Reload", "read again", screen="history", zh_label="刷新"),
    Key("history-back", "escape,q", "clear_or_back", "Back", "clear the filter, or return to the main screen",
        screen="history", zh_label="返回"),
    Key("yes", "y", "answer(True)", "Yes", "yes", screen="confirm", zh_label="是"),
    Key("no", "n,escape", "answer(False)", "No", "no", screen="confirm", zh_label="否"),
    Key("leave", "q,ctrl+c", "leave", "Leave it", "leave the running job to the next leader and quit now",
        screen="stopping", zh_label="留给下一任", zh_description="把运行中的任务留给下一个领导进程，立即退出"),
    Key("close", "escape,q,question_mark", "dismiss", "Close", "close", screen="help", zh_label="关闭"),
)

BY_ID = {key.id: key for key in KEYS}
COMMANDS = tuple(k for k in KEYS if k.command)  # the : command line's, in the table's order


def bindings(screen: str) -> list[Binding]:
    """The Textual bindings of ``screen``, in English (``localize`` switches an instance)."""
    return [Binding(k.keys, k.action, k.label, show=k.show, key_display=k.display, priority=k.priority, id=k.id,
                    tooltip=k.description[:1].upper() + k.description[1:])
            for k in KEYS if k.screen == screen and k.action is not None and k.keys]


def help_rows(locale: str, screens: tuple[str, ...] = ("main", "table")) -> list[tuple[str, str]]:
    """(key as written, what it does) for the keys of ``screens``, in the console's language."""
    rows, seen = [], set()
    for k in KEYS:
        if (k.screen in screens and k.keys and k.description and k.id != "close-filter"
                and k.shown_as not in seen):
            seen.add(k.shown_as)  # a key on two of the screens (enter): the first one's words
            rows.append((k.shown_as, k.description_in(locale)))
    if "main" in screens:
        rows.append(("escape", BY_ID["close-filter"].description_in(locale)))
    return rows


def writing_actions() -> set[str]:
    """The actions that change something, on every screen: what --read-only refuses."""
    return {k.action for k in KEYS if k.writes and k.action}


def main_screen_actions() -> set[str]:
    return {k.action.split("(")[0] for k in KEYS if k.screen == "main" and k.action and k.action != "close_filter"}


def localize(node, locale: str) -> None:
    """Show ``node``'s footer words in the console's language.

    Textual keeps a per-instance copy of the bindings (``_bindings``), so only this node's copy
    changes; each binding is found by its id in ``KEYS``."""
    if locale != "zh_CN":
        return
    from dataclasses import replace

    table = node._bindings.key_to_bindings
    for key, found in table.items():
        table[key] = [replace(b, description=BY_ID[b.id].label_in(locale)) if b.id in BY_ID and b.description
                      else b for b in found]
