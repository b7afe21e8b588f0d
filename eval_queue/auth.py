"""Who may approve or reject submissions. Shared by the app and the CLI; checked on every call.

- Locally: the caller presents a token equal to ``LEADERBOARD_ADMIN_TOKEN``. A missing, blank or
  whitespace-only admin token disables review (never "the empty token matches").
- On a Space (``settings.on_space()``): the HF OAuth username is in ``MAINTAINERS`` or the user belongs to
  one of the ``MAINTAINER_ORGS`` (read from the OAuth profile's ``orgs``).
"""

from __future__ import annotations

import hmac
from collections.abc import Mapping
from typing import Any

import settings

ADMIN = "admin"  # the name a token-authenticated maintainer acts under


class NotMaintainer(PermissionError):
    """The caller is not allowed to review submissions."""


def _lower_set(name: str) -> set[str]:
    return {p.lower() for p in settings.get(name)}


ADMIN_TOKEN_FILE = "admin-token"  # in LEADERBOARD_DATA_DIR, for a local board without a configured token
MAX_TOKEN_FILE = 4096


class AdminTokenError(PermissionError):
    """The generated admin-token file cannot be used; the message says why (one line)."""


def _local_board() -> bool:
    """A board on local data, not on a Space (only there is an admin-token file generated or read)."""
    hub = bool(settings.get("RESULTS_REPO")) and bool(settings.get("QUEUE_REPO"))
    return not hub and not settings.on_space()


def _token_file():
    from store import data_dir

    return data_dir() / ADMIN_TOKEN_FILE


def _read_token_file(path) -> str | None:
    """The token in ``path``; None if absent. A link, FIFO, huge or empty file is refused (never read)."""
    import os
    import stat

    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise AdminTokenError(f"{path.name}: cannot open it ({exc.strerror or type(exc).__name__})") from None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode) or st.st_size > MAX_TOKEN_FILE:
            raise AdminTokenError(f"{path.name} is not a small regular file; remove it to make a new one")
        token = os.read(fd, MAX_TOKEN_FILE).decode("utf-8", "replace").strip()
    finally:
        os.close(fd)
    if not token or len(token.split()) != 1:
        raise AdminTokenError(f"{path.name} holds no usable token; remove it to make a new one")
    return token


def local_admin_token() -> tuple[str, bool]:
    """(the maintainer token of a local board, whether it was created just now).

    ``LEADERBOARD_ADMIN_TOKEN`` when set. Otherwise, on local data, ``$LEADERBOARD_DATA_DIR/admin-token``:
    created once (mode 0600, ``secrets.token_urlsafe``; atomic, so two starting processes agree) and read
    after that. On the Hub backend or a Space nothing is generated: ("", False) when no token is set."""
    import os
    import secrets

    configured = (settings.get("LEADERBOARD_ADMIN_TOKEN") or "").strip()
    if configured or not _local_board():
        return configured, False
    path = _token_file()
    existing = _read_token_file(path)
    if existing is not None:
        return existing, False
    path.parent.mkdir(parents=True, exist_ok=True)
    token = secrets.token_urlsafe(32)
    tmp = path.with_name(f".{ADMIN_TOKEN_FILE}.{secrets.token_hex(6)}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    try:
        os.write(fd, (token + "\n").encode())
        os.fsync(fd)
    finally:
        os.close(fd)
    try:
        os.link(tmp, path)  # fails if another process made one first: then theirs is the token
        created = True
    except FileExistsError:
        created = False
    finally:
        tmp.unlink(missing_ok=True)
    if not created:
        return _read_token_file(path) or "", False
    return token, True


def _admin_token() -> str:
    """The token maintainers present: the setting, else (local board) the generated file's, if any."""
    configured = (settings.get("LEADERBOARD_ADMIN_TOKEN") or "").strip()
    if configured or not _local_board():
        return configured
    try:
        return _read_token_file(_token_file()) or ""
    except AdminTokenError:
        return ""


def review_disabled_reason() -> str | None:
    """Why nobody can review on this board (for the app's startup warning), or None if someone can."""
    if settings.on_space():
        if not settings.get("MAINTAINERS") and not settings.get("MAINTAINER_ORGS"):
            return "review is disabled: set MAINTAINERS or MAINTAINER_ORGS (Hub users/orgs who may review)"
        return None
    if not _admin_token():
        return "review is disabled: LEADERBOARD_ADMIN_TOKEN is not set (or blank) on this board"
    return None


def token_ok(token: str | None) -> bool:
    """Constant-time comparison with ``LEADERBOARD_ADMIN_TOKEN``; False when either is blank."""
    expected = _admin_token()
    given = token if isinstance(token, str) else ""
    return bool(expected) and bool(given) and hmac.compare_digest(given.encode(), expected.encode())


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
    for org in orgs if isinstance(orgs, list | tuple) else []:
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
    if name.lower() in _lower_set("MAINTAINERS"):
        return True
    allowed_orgs = _lower_set("MAINTAINER_ORGS")
    return bool(allowed_orgs) and not isinstance(who, str) and bool(_orgs(who) & allowed_orgs)


def maintainer_name(profile: Any, token: str | None) -> str | None:
    """The name a maintainer acts under in the app, or None if this caller may not review.

    On a Space the signed-in OAuth profile decides (a token typed into the page is not enough); elsewhere
    the admin token does."""
    if settings.on_space():
        if profile is None or not is_maintainer(profile=profile):
            return None
        return _username(profile) or "maintainer"
    return ADMIN if token_ok(token) else None


def require_maintainer(identity: Any = None, *, token: str | None = None, profile: Any = None) -> None:
    """Raise :class:`NotMaintainer` with a message that says how to authenticate."""
    if is_maintainer(identity, token=token, profile=profile):
        return
    if token is not None or (identity is None and profile is None):
        if not _admin_token():
            raise NotMaintainer(
                "maintainer actions are disabled: LEADERBOARD_ADMIN_TOKEN is not set on this board"
            )
        raise NotMaintainer("not a maintainer: pass the admin token (LEADERBOARD_TOKEN or --token)")
    raise NotMaintainer(f"{_username(profile or identity) or 'this user'} is not a maintainer of this board")
