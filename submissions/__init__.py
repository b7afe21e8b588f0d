"""Submissions: validate a model submission (id syntax, existence, format, size, duplicates, rate limit)
and turn it into a PENDING_REVIEW queue entry. ``submit`` raises :class:`SubmissionRefused` with the fix."""

from submissions.submit import SubmissionSettings, submit
from submissions.validate import SubmissionRefused, parse_model_id

__all__ = ["SubmissionRefused", "SubmissionSettings", "parse_model_id", "submit"]
