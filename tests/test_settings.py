"""settings: typed, validated environment variables, and the README table that documents them."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

import settings

README = Path(__file__).resolve().parents[1] / "README.md"


def test_declared_defaults_apply_when_unset_or_blank(monkeypatch):
    monkeypatch.delenv("LEADERBOARD_LEASE_S", raising=False)
    assert settings.get("LEADERBOARD_LEASE_S") == 120.0
    monkeypatch.setenv("LEADERBOARD_LEASE_S", "   ")
    assert settings.get("LEADERBOARD_LEASE_S") == 120.0
    assert settings.get("LEADERBOARD_LEASE_S", 7.0) == 7.0


@pytest.mark.parametrize(
    ("name", "raw", "value"),
    [
        ("LEADERBOARD_LEASE_S", "2.5", 2.5),
        ("GRADIO_SERVER_PORT", " 8080 ", 8080),
        ("LEADERBOARD_WORKER", "off", False),
        ("LEADERBOARD_WORKER", "TRUE", True),
        ("MAINTAINERS", " alice, ,bob ,", ("alice", "bob")),
        ("LEADERBOARD_ADMIN_TOKEN", " s3cret ", "s3cret"),
    ],
)
def test_values_are_parsed_by_kind(monkeypatch, name, raw, value):
    monkeypatch.setenv(name, raw)
    assert settings.get(name) == value


@pytest.mark.parametrize(
    ("name", "raw"),
    [
        ("LEADERBOARD_LEASE_S", "fast"),
        ("LEADERBOARD_LEASE_S", "nan"),
        ("LEADERBOARD_LEASE_S", "inf"),
        ("LEADERBOARD_LEASE_S", "-1"),
        ("GRADIO_SERVER_PORT", "80.5"),
        ("LEADERBOARD_WORKER", "maybe"),
        ("LEADERBOARD_MAX_ATTEMPTS", "0"),
    ],
)
def test_malformed_values_name_the_variable(monkeypatch, name, raw):
    monkeypatch.setenv(name, raw)
    with pytest.raises(settings.SettingError, match=name):
        settings.get(name)


def test_a_huge_malformed_value_is_not_echoed_whole(monkeypatch):
    monkeypatch.setenv("LEADERBOARD_LEASE_S", "x" * 100_000)
    with pytest.raises(settings.SettingError) as exc:
        settings.get("LEADERBOARD_LEASE_S")
    assert len(str(exc.value)) < 200


def test_undeclared_names_are_refused():
    with pytest.raises(KeyError, match="undeclared setting"):
        settings.get("LEADERBOARD_NO_SUCH_THING")


def test_on_space_needs_both_variables(monkeypatch):
    monkeypatch.setenv("SYSTEM", "spaces")
    monkeypatch.delenv("SPACE_ID", raising=False)
    assert not settings.on_space()
    monkeypatch.setenv("SPACE_ID", "org/board")
    assert settings.on_space()


def test_readme_embeds_the_generated_table():
    """The README's variable table is `python -m settings`'s output, so the two cannot drift apart."""
    text = README.read_text()
    m = re.search(r"<!-- settings-table:start -->\n(.*?)\n<!-- settings-table:end -->", text, re.S)
    assert m, "README lacks the settings-table markers"
    assert m.group(1).strip() == settings.readme_table().strip(), "regenerate it: python -m settings"
