"""Notifications: rows in the ``notifications`` table, written set-based from the jobs' selects."""
