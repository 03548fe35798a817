"""The console's own words in English and Chinese (``console.locale`` in settings); the keys' words
are with the keys, in ``console.tui.keys``."""

from __future__ import annotations

import re

from console.domain.runs import JobState, Outcome, RunStatus, SchedulerState, TriggerKind
from console.service import SCHEDULE_DIFFERS

_ZH = {
    "filter": "筛选",
    "search": "搜索",
    "searching…": "搜索中…",
    "scanning every processing task (db tune adds a title index)": "正在扫描全部处理中任务（db tune 可加标题索引）",
    "found": "条结果",
    "of": "/",
    "ahead": "即将到达",
    "by": "按",
    "severity": "严重程度",
    "next threshold": "下一阈值",
    "deadline": "截止时间",
    "progress gap": "进度差",
    "near panel sorted by": "临近阈值面板排序：",
    "a task id is a number": "任务编号是数字",
    "no task": "没有任务",
    "next level": "下一级别",
    "due": "截止",
    "never run": "从未运行",
    # A run's status, keyed by the enum (its members equal the words the ledger holds).
    RunStatus.SUCCESS: "成功",
    RunStatus.FAILED: "失败",
    RunStatus.MISSED: "错过",
    RunStatus.SKIPPED: "跳过",
    RunStatus.ABANDONED: "已放弃",
    "filter: type to narrow the table; enter keeps it (on the near panel: searches every task); escape clears":
        "筛选：输入以缩小表格；回车保留（在临近阈值面板：搜索全部任务）；escape 清除",
    "task id: enter opens the task": "任务编号：回车打开该任务",
    "stale since": "数据过期，自",
    "all paused": "全部已暂停",
    SCHEDULE_DIFFERS: "调度与设置不一致：主节点启动时重新同步",
    "no job selected (the row went away); choose one with the arrows": "未选中任务（该行已不在）；请用方向键选择",
    "no task selected": "未选中任务",
    "read-only console: nothing is changed": "只读控制台：不做任何修改",
    "Pause the whole scheduler? No job runs, on any process, until P resumes it.":
        "暂停整个调度器？在按 P 恢复之前，任何进程都不会运行任务。",
    "Pause all": "全部暂停",
    "Jobs": "任务调度",
    "Warnings": "预警",
    "Near thresholds": "临近阈值的任务",
    "Logs": "日志",
    "job": "任务",
    "does": "作用",
    "trigger": "触发",
    "next run": "下次运行",
    "state": "状态",
    "last run": "上次运行",
    "level": "级别",
    "now": "当前",
    "24h": "24小时",
    "pending": "待发",
    "title": "标题",
    "handler": "处理人",
    "no handler": "无处理人",
    "no handler: nobody will be warned of this task": "无处理人：此任务的预警不会发给任何人",
    "work / time": "进度 / 时间",
    "notified": "已通知",
    "scheduler": "调度器",
    "database": "数据库",
    "redis": "Redis",
    RunStatus.RUNNING: "运行中",  # a run, a job or the scheduler: one word
    JobState.PAUSED: "已暂停",
    SchedulerState.STANDBY: "待命",
    SchedulerState.ATTACHED: "已连接",
    SchedulerState.FENCED: "已隔离",
    "leader": "主节点",
    "leading": "主导",
    "none": "无",
    SchedulerState.STOPPED: "已停止",
    JobState.SCHEDULED: "已计划",
    JobState.DISABLED: "已禁用",
    JobState.REFUSED: "已拒绝",
    "read-only": "只读",
    "fenced: this release does not know the database schema; no job runs here":
        "已隔离：本版本不认识数据库结构，这里不运行任务",
    "warnings sent per hour, last 24 h": "近24小时每小时预警数",
    "next 24 h": "未来24小时",
    "last look for thresholds crossed": "上次检查越过阈值的任务",
    "warned": "已预警",
    "warnings falling due per hour, next 24 h (each level counted)": "未来24小时每小时将到期的预警数（每个级别各计一次）",
    "warning counts every": "预警计数每隔",
    "skipped (timestamp out of range)": "个任务已跳过（时间超出范围）",
    "unclassified (status not in task_system.values)": "个任务状态未映射（task_system.values）",
}


_ZH.update({
    # health, statuses, the jobs' short names
    "ok": "正常", "down": "不可用", "off": "未启用", SchedulerState.STARTING: "启动中", "…": "…",
    "reset periodic": "重置周期任务", "warn 20/10/5%": "预警 20/10/5%", "time progress": "更新时间进度",
    "delete old data": "清理旧数据", TriggerKind.MANUAL: "手动", TriggerKind.RETRY: "重试", "sent/h": "每小时发送",
    "Reset periodic tasks whose period has come round": "重置到期的周期任务",
    "Warn handlers of tasks running out of time (20%, 10%, 5% left)": "提醒时间将尽的任务处理人（剩余 20%、10%、5%）",
    "Store the time progress of processing tasks": "更新处理中任务的时间进度",
    "Delete long-closed tasks and old read notifications": "删除早已关闭的任务和已读旧通知",
    # dialogs and toasts
    "Yes": "是", "No": "否", "Quit": "退出", "Leave it": "留给下一任",
    "{jobs} is running. Quit anyway? The scheduler stops gracefully: running jobs finish or roll back first.":
        "{jobs} 正在运行。仍要退出吗？调度器会平稳停止：运行中的任务先完成或回滚。",
    "Stopping the scheduler": "正在停止调度器",
    "q or ctrl+c: leave the run to the next leader and quit now": "q 或 ctrl+c：把运行留给下一个主节点并立即退出",
    "waiting for": "等待", "running for": "已运行", "no job is running: closing": "没有任务在运行：正在关闭",
    "Leave the run and quit now? It is marked abandoned and run again by the next leader, as after a crash.":
        "放弃等待并立即退出？该运行会被标记为已放弃，并由下一个主节点重新运行，与崩溃后相同。",
    "stopping the scheduler…": "正在停止调度器…",
    "pause": "暂停", "resume": "恢复", Outcome.STARTED: "已开始", "done in": "完成，耗时", Outcome.DONE: "完成", "failed:": "失败：", "is already running": "已在运行",
    "resumed": "已恢复", "sent to the leader, not taken yet": "已发给主节点，尚未执行",
    "done by the leader": "已由主节点完成", "no detail": "无详情", "scheduler paused": "调度器已暂停",
    "scheduler resumed": "调度器已恢复", "Run {job} now? It deletes old data for good.": "立即运行 {job}？旧数据将被永久删除。",
    # help and screens
    "taskconsole keys": "taskconsole 按键", "keys of this screen": "本界面按键", "keys of the job screen": "任务界面按键",
    "keys of this view": "本视图按键", "keys of the log view": "日志视图按键", "escape closes; the arrows scroll": "escape 关闭；方向键滚动",
    "read-only: t, p and P say so and change nothing.": "只读：t、p、P 只提示，不做修改。",
    "last error": "最近错误",
    # charts (console.tui.charts)
    "run durations, last 7 days": "近 7 天运行耗时", "runs": "次运行", "run": "次运行",
    "the longest per column; ✗ a failure": "每列取最长；✗ 表示失败", "no run in 7 days": "近 7 天没有运行",
    "warnings": "预警", "warnings sent per hour, last 7 days": "近 7 天每小时发送的预警",
    "no warning sent in 7 days": "近 7 天没有发送预警", "none falls due": "没有将到期的预警",
    "no failure recorded": "没有失败记录", "last counts": "最近计数", "at": "于",
    "run": "运行", "status": "状态", "kind": "方式", "started at": "开始", "took": "耗时", "by": "按", "host": "主机",
    "result": "结果", "warning ledger": "预警台账", "notifications sent for this task": "此任务已发送的通知",
    "this task no longer exists": "此任务已不存在", "category": "类别", "window": "时间窗口",
    "stored time progress": "已存时间进度", "level now": "当前级别", "recurrence": "周期规则",
    "progress": "进度", "no usable window or progress for warnings": "没有可用于预警的时间窗口或进度",
    "INVALID, skipped by the reset job": "无效，重置任务将跳过",
    "sent": "发送时间", "repeat": "重复", "type": "类型", "content": "内容", "read": "已读", "to": "接收人",
    "window start": "窗口开始", "window end": "窗口结束",
    "logs": "日志", "lines": "行", "job": "任务", "all": "全部", "wrap": "换行", "no wrap": "不换行",
    "following": "跟随", "WARNING": "警告及以上", "ERROR": "仅错误",
    "no log lines kept for this run (run_logs.keep, or it ran before taskconsole kept run logs)":
        "此运行没有保留日志（run_logs.keep，或它早于日志保留功能）",
    "deliveries to channels": "发往通道的投递", "channel": "通道", "event": "事件", "tries": "尝试", "error": "错误",
    "audit of manual actions": "手动操作审计", "notifications sent": "已发送的通知", "when": "时间", "who": "操作人",
    "action": "操作", "outcome": "结果", "from": "来源", "detail": "详情", "task": "任务",
    "filter: type to narrow the rows; escape clears": "筛选：输入以缩小行；escape 清除",
    ":command, e.g. pause cleanup_old_data, task 8099, logs (→ completes, enter runs, escape closes)":
        ":命令，例如 pause cleanup_old_data、task 8099、logs（→ 补全，回车执行，escape 关闭）",
    "what it would change now": "现在运行会改变什么", "next window": "下个窗口",
    "would_update": "将更新", "would_reset": "将重置", "would_reset_unassigned": "将重置（无处理人）",
    "would_notify": "将通知", "would_delete_tasks": "将删除任务", "would_delete_notifications": "将删除通知",
    "would_delete_task_notifications": "将随任务删除的通知", "skipped_bad_progress": "跳过（进度无效）",
    "newest": "最新", "or": "或", "narrows": "缩小范围",
    "would_delete_runs": "将删除运行记录", "would_delete_audit": "将删除审计记录",
    "would_delete_commands": "将删除已完成命令",
    "would_delete_deliveries": "将删除已结束的投递",
    "skipped_invalid_rule": "跳过（规则无效）", "skipped_no_end_time": "跳过（无结束时间）",
    "skipped_no_handler": "跳过（无处理人）", "skipped_referenced": "跳过（仍被引用）",
    "skipped_unknown_status": "跳过（状态未映射）", "skipped_no_window": "跳过（无时间窗口）",
    "skipped_inverted_window": "跳过（时间窗口颠倒）", "task_id": "任务编号", "handler_id": "处理人编号",
    "time_progress": "时间进度", "updated_at": "更新时间", "new": "新值", "stored": "已存", "id": "编号", "handler_ok": "处理人有效",
    "repeat_no": "重复次数", "cycle": "周期", "ws": "窗口开始", "we": "窗口结束", "tp": "时间进度",
    "preview (dry run, nothing is written):": "预演（只读，不写入）：", "working out what would change…": "正在计算会改变什么…",
})

# English words of the console's own phrases (triggers, times, counts) and their Chinese.
_ZH_DAYS = {"Mondays": "每周一", "Tuesdays": "每周二", "Wednesdays": "每周三", "Thursdays": "每周四",
            "Fridays": "每周五", "Saturdays": "每周六", "Sundays": "每周日", "weekdays": "工作日"}
_ZH_COUNTS = {"reset": "重置", "notified": "通知", "updated": "更新", "tasks deleted": "删除任务",
              "notes deleted": "删除通知", "skipped": "跳过", "invalid rules": "无效规则", "no change": "无变化"}


class Words:
    def __init__(self, locale: str):
        self.locale = locale
        self.table = _ZH if locale == "zh_CN" else {}

    def __call__(self, text: str) -> str:
        return self.table.get(text, text)

    @property
    def zh(self) -> bool:
        return self.locale == "zh_CN"

    def relative(self, english: str) -> str:
        """``format.relative``'s words: "in 12 min" → "12分钟后", "3h05m ago" → "3小时05分前"."""
        if not self.zh or english == "-":
            return english
        if english == "now":
            return "现在"
        ahead = english.startswith("in ")
        span = english[3:] if ahead else english.removesuffix(" ago")
        span = re.sub(r"^(\d+)h(\d+)m$", r"\1小时\2分", span)
        span = re.sub(r"^(\d+) min$", r"\1分钟", span)
        span = re.sub(r"^(\d+) h$", r"\1小时", span)
        span = re.sub(r"^(\d+) d$", r"\1天", span)
        return f"{span}后" if ahead else f"{span}前"

    def duration(self, english: str) -> str:
        """``format.duration``'s words: "63 ms" → "63毫秒", "1.5 s" → "1.5秒", "2.0 min" → "2.0分钟"."""
        if not self.zh:
            return english
        return re.sub(r"^([\d.]+) (ms|s|min)$", lambda m: m[1] + {"ms": "毫秒", "s": "秒", "min": "分钟"}[m[2]], english)

    def counts(self, english: str) -> str:
        """``format.changed``'s words: "12 reset, 3 skipped" → "重置 12，跳过 3"."""
        if not self.zh:
            return english
        if english == "no change":
            return _ZH_COUNTS[english]
        parts = []
        for part in english.split(", "):
            number, _, what = part.partition(" ")
            parts.append(f"{_ZH_COUNTS.get(what, what)} {number}")
        return "，".join(parts)

    def trigger(self, english: str) -> str:
        """``console.domain.cron``'s words for a trigger: "daily 02:00" → "每天 02:00"."""
        if not self.zh:
            return english
        rules = (
            (r"^hourly, on the hour$", "每小时整点"), (r"^hourly at :(\d\d)$", r"每小时第\1分"),
            (r"^daily (\d\d:\d\d)$", r"每天 \1"), (r"^monthly on day (\d+) (\d\d:\d\d)$", r"每月\1日 \2"),
            (r"^every day$", "每天"), (r"^every (\d+) days$", r"每\1天"), (r"^every hour$", "每小时"),
            (r"^every (\d+) h$", r"每\1小时"), (r"^every (\d+) min$", r"每\1分钟"), (r"^every (\d+) s$", r"每\1秒"),
        )
        for pattern, replacement in rules:
            if re.match(pattern, english):
                return re.sub(pattern, replacement, english)
        day, _, at = english.partition(" ")
        if day in _ZH_DAYS:
            return f"{_ZH_DAYS[day]} {at}"
        return english  # a crontab line shown as written
