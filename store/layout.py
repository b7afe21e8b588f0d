"""Where every file lives inside the two datasets (the same paths locally and in the Hub repos).

The one place that spells a dataset path: the results dataset holds ``records/{key}.json`` (one result
record each, create-only) and ``results.parquet`` (the consolidated table); the queue dataset holds
``entries/{id}.json`` (one submission each) and ``index/`` (small create-only or compare-and-swap files
that make the submission limits atomic).
"""

from __future__ import annotations

import hashlib
import re

RECORDS_DIR = "records"
RESULTS_TABLE = "results.parquet"
ENTRIES_DIR = "entries"
INDEX_DIR = "index"

_SLUG = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")


def _checked_name(kind: str, name: str) -> str:
    """A file-name part (result key, entry id): a plain slug, never a path."""
    if not isinstance(name, str) or not _SLUG.match(name) or ".." in name:
        raise ValueError(f"invalid {kind} {str(name)[:80]!r}")
    return name


def record_path(key: str) -> str:
    return f"{RECORDS_DIR}/{_checked_name('result key', key)}.json"


def entry_path(entry_id: str) -> str:
    return f"{ENTRIES_DIR}/{_checked_name('entry id', entry_id)}.json"


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def submission_claim_path(fingerprint: str) -> str:
    """Create-only claim of one (model, revision, config): the first submit to create it wins."""
    return f"{INDEX_DIR}/submissions/{_digest(fingerprint)}.json"


def submitter_index_path(submitter: str) -> str:
    """Compare-and-swap list of one submitter's recent submission times (the rate limit)."""
    return f"{INDEX_DIR}/submitters/{_digest(submitter.lower())}.json"
