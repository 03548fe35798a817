"""Pure rules of the jobs: time progress, warning levels, reset windows, cron text. No I/O."""
