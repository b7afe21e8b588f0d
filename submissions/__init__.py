"""Submissions: validate a model submission (id syntax, existence, format, size, duplicates, rate limit)
and turn it into a PENDING_REVIEW queue entry. ``submit`` raises :class:`SubmissionRefused` with the fix.
``python -m submissions MODEL [--by NAME] ...`` is the command line (see :mod:`submissions.cli`)."""

from submissions.submit import SubmissionSettings, submit
from submissions.validate import SubmissionRefused, parse_model_id

__all__ = ["SubmissionRefused", "SubmissionSettings", "parse_model_id", "submit"]
