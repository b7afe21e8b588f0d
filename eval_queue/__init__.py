"""Evaluation queue: entries and their state machine, leases, the worker, its scheduler job, and a CLI.

Flow: submissions -> ``entries/{id}.json`` (PENDING_REVIEW) -> maintainer approves -> a worker claims it
(RUNNING, leased) -> harness in a limited child -> ``records/{key}.json`` in results -> FINISHED | FAILED.
"""
