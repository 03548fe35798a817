"""APScheduler wiring, the run ledger, per-job locks, retries and failure alerts."""
