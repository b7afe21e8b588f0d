"""Evaluation queue: entries and their state machine, leases, the worker, its scheduler job, and a CLI.

Flow: ``python -m submissions`` -> ``entries/{id}.json`` (PENDING_REVIEW) -> maintainer approves -> a worker claims it
(RUNNING, leased) -> harness in a limited child -> ``records/{key}.json`` in results -> FINISHED | FAILED.
This package never imports ``submissions`` (dependencies flow settings <- store <- harness <- eval_queue
<- submissions); the duplicate claims both use live in :mod:`eval_queue.claims`.
"""
