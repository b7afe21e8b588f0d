"""Who may approve or reject submissions. Shared by the app and the CLI; checked on every call.

- Locally: the caller presents a token equal to ``LEADERBOARD_ADMIN_TOKEN`` (no admin token set -> nobody).
- On a Space: the HF OAuth username is in ``MAINTAINERS`` (comma list) or the user belongs to one of the
  ``MAINTAINER_ORGS`` (comma list; read from the OAuth profile's ``orgs``).
"""

from __future__ import annotations

import hmac
import os
from collections.abc import Mapping
from typing import Any


class NotMaintainer(PermissionError):
    """The caller is not allowed to review submissions."""


def _csv_env(name: str) -> set[str]:
    return {p.strip().lower() for p in os.environ.get(name, "").split(",") if p.strip()}


def token_ok(token: str | None) -> bool:
    """Constant-time comparison with ``LEADERBOARD_ADMIN_TOKEN``; False when either is empty."""
    expected = os.environ.get("LEADERBOARD_ADMIN_TOKEN", "")
    return bool(expected) and bool(token) and hmac.compare_digest(str(token).encode(), expected.encode())


def _username(profile: Any) -> str | None:
    if isinstance(profile, str):
        return profile
    name = getattr(profile, "username", None)
    if name is None and isinstance(profile, Mapping):
        name = profile.get("preferred_username") or profile.get("username")
    return name if isinstance(name, str) and name else None


def _orgs(profile: Any) -> set[str]:
    orgs = profile.get("orgs") if isinstance(profile, Mapping) else getattr(profile, "orgs", None)
    out = set()
    for org in orgs or []:
        if isinstance(org, str):
            out.add(org.lower())
        elif isinstance(org, Mapping):
            for k in ("preferred_username", "name"):
                if isinstance(org.get(k), str):
                    out.add(org[k].lower())
    return out


def is_maintainer(identity: Any = None, *, token: str | None = None, profile: Any = None) -> bool:
    """True if the admin ``token`` matches, or the username (``identity``/``profile``) is a maintainer."""
    if token is not None and token_ok(token):
        return True
    who = profile if profile is not None else identity
    name = _username(who)
    if not name:
        return False
    if name.lower() in _csv_env("MAINTAINERS"):
        return True
    allowed_orgs = _csv_env("MAINTAINER_ORGS")
    return bool(allowed_orgs) and not isinstance(who, str) and bool(_orgs(who) & allowed_orgs)


def require_maintainer(identity: Any = None, *, token: str | None = None, profile: Any = None) -> None:
    """Raise :class:`NotMaintainer` with a message that says how to authenticate."""
    if is_maintainer(identity, token=token, profile=profile):
        return
    if token is not None or (identity is None and profile is None):
        if not os.environ.get("LEADERBOARD_ADMIN_TOKEN"):
            raise NotMaintainer(
                "maintainer actions are disabled: LEADERBOARD_ADMIN_TOKEN is not set on this board"
            )
        raise NotMaintainer("not a maintainer: pass the admin token (LEADERBOARD_TOKEN or --token)")
    raise NotMaintainer(f"{_username(profile or identity) or 'this user'} is not a maintainer of this board")
