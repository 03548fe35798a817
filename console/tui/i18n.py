"""The console's own words in English and Chinese (``console.locale`` in settings); the keys' words
are with the keys, in ``console.tui.keys``."""

from __future__ import annotations

_ZH = {
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
