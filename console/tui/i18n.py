"""The console's own words in English and Chinese (``console.locale`` in settings); the keys' words
are with the keys, in ``console.tui.keys``."""

from __future__ import annotations

_ZH = {
    "filter": "筛选",
    "search": "搜索",
    "searching…": "搜索中…",
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
    "success": "成功",
    "failed": "失败",
    "missed": "错过",
    "skipped": "跳过",
    "abandoned": "已放弃",
    "filter: type to narrow the table; enter keeps it (on the near panel: searches every task); escape clears":
        "筛选：输入以缩小表格；回车保留（在临近阈值面板：搜索全部任务）；escape 清除",
    "task id: enter opens the task": "任务编号：回车打开该任务",
    "stale since": "数据过期，自",
    "all paused": "全部已暂停",
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
    "work / time": "进度 / 时间",
    "notified": "已通知",
    "scheduler": "调度器",
    "database": "数据库",
    "redis": "Redis",
    "running": "运行中",
    "paused": "已暂停",
    "standby": "待命",
    "attached": "已连接",
    "leader": "主节点",
    "leading": "主导",
    "none": "无",
    "stopped": "已停止",
    "scheduled": "已计划",
    "disabled": "已禁用",
    "refused": "已拒绝",
    "read-only": "只读",
    "warnings sent per hour, last 24 h": "近24小时每小时预警数",
    "warning counts every": "预警计数每隔",
    "skipped (timestamp out of range)": "个任务已跳过（时间超出范围）",
    "unclassified (status not in task_system.values)": "个任务状态未映射（task_system.values）",
}


class Words:
    def __init__(self, locale: str):
        self.locale = locale
        self.table = _ZH if locale == "zh_CN" else {}

    def __call__(self, text: str) -> str:
        return self.table.get(text, text)
