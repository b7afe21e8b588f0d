"""``python -m leaderboard report`` on hostile files: bad ones are skipped and named, the rest is reported.

Crafted records (no harness run), so these stay fast; the real-harness report tests are in
tests/test_report_compare.py.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest

from store.layout import record_path
from store.local import LocalDatasetStore
from tests._harness_helpers import run_module
from tests._leaderboard_helpers import make_record, make_run

IMG = "<img src=x onerror=alert(1)>"


def _report(*args: str, data_dir: Path) -> tuple[int, str, str]:
    env = {"LEADERBOARD_DATA_DIR": str(data_dir), "RESULTS_REPO": "", "QUEUE_REPO": ""}
    proc = run_module("leaderboard", "report", *args, timeout=60, env=env)  # a hang fails, never blocks
    return proc.returncode, proc.stdout, proc.stderr


def _hostile_folder(folder: Path) -> dict[str, str]:
    """One good record and one file of each bad kind; returns {file name: expected reason fragment}."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "good.json").write_text(json.dumps(make_record(model="good_net")))
    bad_types = make_record(model="bad_net")
    bad_types["model"]["id"] = ["x"]
    (folder / "wrong-types.json").write_text(json.dumps(bad_types))
    nan = make_record(model="nan_net", runs=[make_run(p50=1.0)])
    nan["runs"][0]["latency_ms"]["p50"] = float("nan")
    (folder / "nan-latency.json").write_text(json.dumps(nan))  # json writes NaN, which JSON does not have
    (folder / "not-json.json").write_text("{nope")
    (folder / "deep.json").write_text("[" * 100_000 + "]" * 100_000)
    os.mkfifo(folder / "fifo.json")
    os.symlink(folder / "loop.json", folder / "loop.json")
    os.symlink(folder, folder / "dir-loop")
    return {
        "wrong-types.json": "model",
        "nan-latency.json": "",
        "not-json.json": "",
        "deep.json": "",
        "fifo.json": "",
        "loop.json": "",
    }


def test_records_folder_with_hostile_files_reports_the_good_and_names_the_bad(tmp_path):
    expected = _hostile_folder(tmp_path / "recs")
    rc, out, err = _report("--records", str(tmp_path / "recs"), data_dir=tmp_path / "empty")
    assert rc == 0, err
    assert "good\\_net" in out and "1 row(s)" in out
    warnings = [line for line in err.splitlines() if line.startswith("warning: skipped")]
    for name, reason in expected.items():
        line = next((w for w in warnings if f"/{name}:" in w), None)
        assert line is not None, f"{name} not reported in {err!r}"
        assert reason in line.split(f"/{name}:", 1)[1]
    assert all(len(w) < 500 for w in warnings)  # one line each, not a dump of the file


def test_records_with_nothing_readable_is_a_one_line_error(tmp_path):
    folder = tmp_path / "recs"
    folder.mkdir()
    (folder / "x.json").write_text(json.dumps({"schema_version": 1, "model": {"id": 3}}))
    rc, _, err = _report("--records", str(folder), data_dir=tmp_path / "empty")
    assert rc == 2 and err.startswith("error: --records: no readable result record") and err.count("\n") == 1
    rc, _, err = _report("--records", str(tmp_path / "loop"), data_dir=tmp_path / "empty")
    assert rc == 2 and "no such file or folder" in err
    os.symlink(tmp_path / "loop", tmp_path / "loop")
    rc, _, err = _report("--records", str(tmp_path / "loop"), data_dir=tmp_path / "empty")
    assert rc == 2 and "no such file or folder" in err


def test_store_report_skips_invalid_records_with_a_warning(tmp_path):
    results = LocalDatasetStore(tmp_path / "results", name="results")
    good = make_record(model="good_net", key="k-good")
    bad = make_record(model="bad_net", key="k-bad", runs=[make_run(p50=0.001)])
    bad["runs"][0]["latency_ms"]["p50"] = -1.0  # would rank first if it were believed
    assert results.create_json(record_path(good["key"]), good)
    assert results.create_json(record_path(bad["key"]), bad)
    rc, out, err = _report(data_dir=tmp_path)
    assert rc == 0, err
    assert "good\\_net" in out and "bad\\_net" not in out
    assert re.search(r"warning: skipped .*k-bad\.json: .*p50", err), err


def test_report_of_hostile_ids_has_no_live_markup(tmp_path):
    folder = tmp_path / "recs"
    folder.mkdir()
    rec = make_record(model=IMG, hw="cpu|<b>x</b>")
    (folder / "r.json").write_text(json.dumps(rec))
    rc, out, err = _report("--records", str(folder), data_dir=tmp_path / "empty")
    if rc == 2:  # the schema check may refuse such an id outright: then it is named, never rendered
        assert "r.json" in err and "<img" not in err.split("r.json", 1)[0]
        return
    outside_code = re.sub(r"(?ms)^(`{3,})[^\n]*\n.*?^\1\s*$", "", out)
    assert "<img" not in outside_code and "<b>" not in outside_code and "&lt;img" in outside_code


@pytest.mark.parametrize("filters", [["q=(.|.)*(?=!)&re=1"], ["q=" + "a" * 300]])
def test_report_refuses_unbounded_searches_in_one_line(tmp_path, filters):
    folder = tmp_path / "recs"
    folder.mkdir()
    (folder / "r.json").write_text(json.dumps(make_record()))
    rc, _, err = _report("--records", str(folder), *(f"--filter={f}" for f in filters), data_dir=tmp_path)
    assert rc == 2 and err.startswith("error: ") and err.count("\n") == 1, err
