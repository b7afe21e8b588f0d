"""The generated admin token of a local board (issue 11's newcomer path): made once, 0600, accepted by
token_ok; never on the Hub backend; a hostile file in its place is refused, never read."""

from __future__ import annotations

import os
import stat
import threading

import pytest

from eval_queue import auth


@pytest.fixture
def local(monkeypatch, tmp_path):
    for name in ("LEADERBOARD_ADMIN_TOKEN", "RESULTS_REPO", "QUEUE_REPO", "SYSTEM", "SPACE_ID"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("LEADERBOARD_DATA_DIR", str(tmp_path / "data"))
    return tmp_path / "data" / auth.ADMIN_TOKEN_FILE


def test_created_once_private_and_accepted(local):
    assert not auth.token_ok("anything") and auth.review_disabled_reason()
    token, created = auth.local_admin_token()
    assert created and len(token) >= 40
    assert stat.S_IMODE(local.stat().st_mode) == 0o600 and local.read_text().strip() == token
    assert auth.local_admin_token() == (token, False)
    assert auth.token_ok(token) and not auth.token_ok(token + "x") and not auth.token_ok("")
    assert auth.review_disabled_reason() is None
    assert [p.name for p in local.parent.iterdir()] == [auth.ADMIN_TOKEN_FILE]  # no temp file left


def test_configured_token_wins_and_nothing_is_written(local, monkeypatch):
    monkeypatch.setenv("LEADERBOARD_ADMIN_TOKEN", "  set-by-maintainer ")
    assert auth.local_admin_token() == ("set-by-maintainer", False)
    assert not local.exists()


def test_hub_backend_generates_nothing(local, monkeypatch):
    monkeypatch.setenv("RESULTS_REPO", "org/results")
    monkeypatch.setenv("QUEUE_REPO", "org/queue")
    assert auth.local_admin_token() == ("", False)
    assert not local.exists() and not local.parent.exists()


def test_parallel_starts_agree_on_one_token(local):
    got: list[tuple[str, bool]] = []
    threads = [threading.Thread(target=lambda: got.append(auth.local_admin_token())) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len({tok for tok, _ in got}) == 1 and sum(created for _, created in got) == 1


@pytest.mark.parametrize("kind", ["symlink", "fifo", "huge", "empty", "symlink-loop"])
def test_hostile_token_file_is_refused_unread(local, tmp_path, kind):
    local.parent.mkdir(parents=True)
    if kind == "symlink":
        secret = tmp_path / "elsewhere"
        secret.write_text("attacker-token")
        local.symlink_to(secret)
    elif kind == "fifo":
        os.mkfifo(local)
    elif kind == "huge":
        local.write_text("x" * (auth.MAX_TOKEN_FILE + 1))
    elif kind == "empty":
        local.write_text("  \n")
    else:
        local.symlink_to(local)
    with pytest.raises(auth.AdminTokenError, match="admin-token"):
        auth.local_admin_token()
    assert not auth.token_ok("attacker-token") and not auth.token_ok("x" * (auth.MAX_TOKEN_FILE + 1))
