"""The Review tab in-process: a reviewer sees each submission's full settings (escaped), the actions are
off until the server has identified a maintainer, and signing in clears the previous identity's message."""

from __future__ import annotations

import pytest

from eval_queue.entries import create_entry
from eval_queue.entry import PENDING_REVIEW, make_entry, utc_now
from harness.config import BenchmarkConfig
from store import LocalDatasetStore, Stores
from ui import review_tab, state
from ui.blocks import build_ui

ADMIN = "review-s3cret"


@pytest.fixture()
def ui(tmp_path, monkeypatch):
    monkeypatch.setenv("LEADERBOARD_ADMIN_TOKEN", ADMIN)
    monkeypatch.setenv("LEADERBOARD_DATA_DIR", str(tmp_path))
    st = Stores(
        results=LocalDatasetStore(tmp_path / "results", "results"),
        queue=LocalDatasetStore(tmp_path / "queue", "queue"),
        backend="local",
    )
    previous = state.install(state.AppState.open(st))
    yield build_ui()
    state.install(previous)


def _pending(model: str, by: str, **config) -> str:
    cfg = BenchmarkConfig.from_dict(config).to_dict()
    entry = make_entry(model, "timm", None, cfg, by, utc_now(), status=PENDING_REVIEW, note="submitted")
    return create_entry(state.current().stores.queue, entry).id


def _interactive(update) -> bool:
    return bool(update.interactive) if hasattr(update, "interactive") else bool(update.get("interactive"))


def test_two_entries_of_one_model_differ_by_their_settings(ui):
    a = _pending("resnet18", "alice", batch_sizes=[1, 8], backends=["pytorch"])
    b = _pending("resnet18", "bob", batch_sizes=[32], backends=["pytorch", "onnxruntime"])
    shown_a = review_tab.entry_markdown(state.current(), a)
    shown_b = review_tab.entry_markdown(state.current(), b)
    assert "config: batch\\_sizes" in shown_a and "| 1, 8 |" in shown_a and "| 32 |" in shown_b
    assert "onnxruntime" in shown_b and "alice" in shown_a and "bob" in shown_b
    assert review_tab.entry_markdown(state.current(), None) == ""
    assert "Cannot show" in review_tab.entry_markdown(state.current(), "../../etc/passwd")
    assert "Cannot show" in review_tab.entry_markdown(state.current(), "no-such-entry")


def test_submitter_text_is_escaped_in_the_settings(ui):
    eid = _pending("resnet18", "<img src=x onerror=alert(1)>|*x*", batch_sizes=[1])
    shown = review_tab.entry_markdown(state.current(), eid)
    assert "<img" not in shown and "&lt;img" in shown and "\\|" in shown and "\\*x\\*" in shown


def test_actions_are_off_until_a_maintainer_is_identified(ui):
    review = ui.review
    assert not review.approve.interactive and not review.reject.interactive  # as built: signed out
    eid = _pending("resnet18", "alice", batch_sizes=[1])
    out = review.on_sign_in("wrong", None)
    assert not _interactive(out[review.approve]) and not _interactive(out[review.reject])
    assert out[review.entry] == "" and "Maintainers only" in out[review.who]
    out = review.on_sign_in(ADMIN, None)
    assert _interactive(out[review.approve]) and _interactive(out[review.reject])
    assert out[review.pick].value == eid and "alice" in out[review.entry]
    assert "Refused" in review.on_approve(eid, "wrong", None)[review.out]  # still checked per action


def test_signing_in_clears_the_stale_refusal(ui):
    review = ui.review
    _pending("resnet18", "alice", batch_sizes=[1])
    assert "Refused" in review.on_approve("x", None, None)[review.out]
    assert review.on_sign_in(ADMIN, None)[review.out] == ""
    after = review.on_list(ADMIN, None)  # the refresh after an action keeps that action's message
    assert review.out not in after


def test_review_endpoints_are_not_in_the_public_api(ui):
    public = ui.demo.get_api_info()["named_endpoints"]
    assert not any("on_list" in n or "approve" in n or "reject" in n for n in public), list(public)
    assert "/query" in public and "/record" in public
