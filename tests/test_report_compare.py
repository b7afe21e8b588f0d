"""Reports and the regression gate on records produced by the real harness on tiny models.

One trained digits model measured on PyTorch and ONNX Runtime (fp32 + int8; the session's shared record,
tests/conftest.py) and one random-weight timm architecture; the records land in a local results store the
way the worker writes them.
"""

from __future__ import annotations

import copy
import json
import subprocess
from pathlib import Path

import pandas as pd
import pytest

from harness import compare
from leaderboard import report
from leaderboard.cli import ReportError, parse_filters
from leaderboard.load import build_frames
from leaderboard.markup import escape_markdown
from store.local import LocalDatasetStore
from tests._harness_helpers import run_cli, run_module
from tests.hub_server import hub_server  # noqa: F401 - pytest fixture

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def records(digits_record, tmp_path_factory) -> dict[str, dict]:
    """The session's real record of the trained digits model (both backends, fp32 + int8, accuracy) and one
    run here of a random-weight timm architecture (efficiency only)."""
    path = tmp_path_factory.mktemp("records") / "random.json"
    proc = run_cli(
        "test_vit", "--no-dataset", "--backends", "pytorch,onnxruntime", "--batch-sizes", "1,2",
        "--precisions", "fp32", "--min-duration", "0.1", "--threads", "1", "--output", str(path),
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    return {"trained": digits_record.record, "random": json.loads(path.read_text())}


@pytest.fixture(scope="module")
def data_dir(records, tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("data")
    results = LocalDatasetStore(root / "results", name="results")
    for rec in records.values():
        assert results.create_json(f"records/{rec['key']}.json", rec)
    return root


def _leaderboard(*args: str, data_dir: Path, **env_vars: str) -> subprocess.CompletedProcess:
    env = {"LEADERBOARD_DATA_DIR": str(data_dir), "RESULTS_REPO": "", "QUEUE_REPO": "", **env_vars}
    return run_module("leaderboard", *args, timeout=120, env=env)


# --- report -------------------------------------------------------------------------------------------
def test_report_from_the_store_with_exports(records, data_dir, tmp_path):
    md, csv, pq = tmp_path / "RESULTS.md", tmp_path / "rows.csv", tmp_path / "rows.parquet"
    proc = _leaderboard(
        "report", "--output", str(md), "--csv", str(csv), "--parquet", str(pq), data_dir=data_dir
    )
    assert proc.returncode == 0, proc.stderr
    text = md.read_text()
    trained, random = records["trained"], records["random"]
    profile = trained["environment"]["hardware_profile"]

    heading = escape_markdown(profile)  # record-supplied text is escaped in the Markdown
    assert f"## {heading}" in text
    assert f"### {heading} · pytorch" in text and f"### {heading} · onnxruntime" in text
    assert "🟢 < 10 ms" in text and "10-50 ms" in text and "> 50 ms" in text
    assert f"| torch | {trained['environment']['torch']} |" in text
    # every ok run's p50 at batch 1 is in the report, formatted as the leaderboard formats it
    for rec in (trained, random):
        for run in rec["runs"]:
            if run["batch_size"] == 1 and run["status"] == "ok":
                assert f"{run['latency_ms']['p50']:.2f}" in text, run["backend"]
    # accuracy only for the trained model, never for random weights
    assert f"{trained['accuracy']['top1']:.2f}" in text
    random_lines = [line for line in text.splitlines() if line.startswith("| test\\_vit |")]
    assert len(random_lines) == 2 and all("| — |" in line for line in random_lines)
    # one reproduce command per record, with the exact flags
    assert "python -m harness test_vit --task classification --no-dataset" in text
    assert f"python -m harness local-dir:{trained['model']['id'].removeprefix('local-dir:')}" in text

    # the speed-up line states the ratio measured in these rows
    wide, _ = build_frames(records.values())
    s = report.runtime_speedup(wide, "onnxruntime")
    assert s is not None and s["pairs"] == 2  # fp32 of both models (int8 runs on ONNX Runtime only)
    factor = s["geomean"] if s["geomean"] >= 1 else 1 / s["geomean"]
    assert f"ONNX Runtime vs PyTorch: {factor:.2f}x" in text

    exported_csv, exported_pq = pd.read_csv(csv), pd.read_parquet(pq)
    assert len(exported_csv) == len(exported_pq) == len(wide) == 5
    assert set(exported_pq["backend"]) == {"pytorch", "onnxruntime"}
    assert exported_pq["latency_p50_ms"].notna().all()
    size = exported_pq.set_index(["model", "backend", "precision"])["size_mb"]
    tid = trained["model"]["id"]
    assert size[(tid, "pytorch", "fp32")] == pytest.approx(trained["model"]["size_mb"])
    assert size[(tid, "onnxruntime", "int8")] < 0.6 * size[(tid, "onnxruntime", "fp32")]  # what ORT ran


def test_report_filter_and_records_mode(records, data_dir, tmp_path):
    proc = _leaderboard(
        "report", "--filter", "backend=onnxruntime", "--filter", "q=test_vit", data_dir=data_dir
    )
    assert proc.returncode == 0, proc.stderr
    assert "· onnxruntime" in proc.stdout and "· pytorch" not in proc.stdout
    assert "| test\\_vit |" in proc.stdout and "digits-resnet" not in proc.stdout.split("Reproduce")[0]

    folder = tmp_path / "recs"
    folder.mkdir()
    (folder / "a.json").write_text(json.dumps(records["trained"]))
    proc = _leaderboard("report", "--records", str(folder), data_dir=tmp_path / "empty")
    assert proc.returncode == 0, proc.stderr
    assert "3 row(s)" in proc.stdout and "test\\_vit" not in proc.stdout and "test_vit" not in proc.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--filter", "colour=red"], "unknown key 'colour'"),
        (["--filter", "lmax=fast"], "expected a number"),
        (["--filter", "q=(&re=1"], "invalid regular expression"),
        (["--csv", "out.txt"], "must end in .csv"),
        (["--records", "/no/such/place"], "no such file or folder"),
        (["--output", "/no/such/dir/R.md"], "does not exist"),
    ],
)
def test_report_refuses_bad_input_in_one_line(data_dir, args, message):
    proc = _leaderboard("report", *args, data_dir=data_dir)
    assert proc.returncode == 2
    assert proc.stderr.startswith("error: ") and message in proc.stderr
    assert proc.stderr.count("\n") == 1


def test_report_from_the_hub_results_repo(records, hub_server, tmp_path):  # noqa: F811
    from store.hub import HubDatasetStore

    results = HubDatasetStore("org/results", name="results")
    for rec in records.values():
        results.write_json(f"records/{rec['key']}.json", rec)
    proc = _leaderboard(
        "report", data_dir=tmp_path / "unused", RESULTS_REPO="org/results", QUEUE_REPO="org/queue"
    )
    assert proc.returncode == 0, proc.stderr
    assert "hub results store org/results" in proc.stdout and "5 row(s)" in proc.stdout
    assert not (tmp_path / "unused").exists()


def test_report_on_an_empty_store_says_so(tmp_path):
    proc = _leaderboard("report", data_dir=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "_No results match._" in proc.stdout and "0 row(s)" in proc.stdout


def test_parse_filters_merges_repeated_categories():
    state, note = parse_filters(["backend=pytorch", "backend=onnxruntime", "lmax=50"])
    assert state.backend == ("pytorch", "onnxruntime") and state.latency_max == 50.0
    assert note == "backend=pytorch,onnxruntime&lmax=50"
    with pytest.raises(ReportError):
        parse_filters(["sort=nonsense"])


def test_latency_bands_and_speedup_are_pure():
    assert [report.latency_band(v) for v in (0.5, 9.99, 10.0, 50.0, 50.1, None)] == [
        "🟢",
        "🟢",
        "🟡",
        "🔴",
        "🔴",
        "",
    ]
    wide = pd.DataFrame(
        {
            "key": ["k", "k", "j"],
            "device": ["cpu"] * 3,
            "precision": ["fp32"] * 3,
            "backend": ["pytorch", "onnxruntime", "onnxruntime"],
            "latency_p50_ms": [4.0, 2.0, 1.0],
        }
    )
    assert report.runtime_speedup(wide) == {"geomean": 2.0, "min": 2.0, "max": 2.0, "pairs": 1}
    [line] = report.speedup_lines(wide)
    assert line.startswith("ONNX Runtime vs PyTorch: 2.00x faster")
    assert "no row here" in report.speedup_lines(wide[wide["backend"] == "pytorch"])[0]
    # every runtime beside PyTorch gets its line, in the registry's order; a runtime without a PyTorch
    # row in the same record gets none
    more = pd.concat(
        [
            wide,
            pd.DataFrame(
                {
                    "key": ["k", "k", "j"],
                    "device": ["cpu"] * 3,
                    "precision": ["fp32"] * 3,
                    "backend": ["openvino", "torch-compile", "litert"],
                    "latency_p50_ms": [1.0, 8.0, 1.0],
                }
            ),
        ]
    )
    lines = report.speedup_lines(more)
    assert [line.split(" vs ")[0] for line in lines] == ["ONNX Runtime", "OpenVINO", "torch.compile"]
    assert lines[1].startswith("OpenVINO vs PyTorch: 4.00x faster") and "2.00x slower" in lines[2]


# --- compare -----------------------------------------------------------------------------------------
def _compare(tmp_path: Path, base: dict, cur: dict, *extra: str) -> subprocess.CompletedProcess:
    a, b = tmp_path / "base.json", tmp_path / "cur.json"
    a.write_text(json.dumps(base))
    b.write_text(json.dumps(cur))
    return run_cli("compare", str(a), str(b), *extra, timeout=60)


def test_compare_same_record_passes(records, tmp_path):
    proc = _compare(tmp_path, records["trained"], records["trained"])
    assert proc.returncode == 0, proc.stderr
    assert "OK: within thresholds" in proc.stdout
    assert "| onnxruntime/cpu/int8/bs=1 |" in proc.stdout and "REGRESSION" not in proc.stdout


def _slower(rec: dict, run_filter=lambda r: True, extra_ms: float | None = None) -> dict:
    cur = copy.deepcopy(rec)
    for run in cur["runs"]:
        if run["status"] == "ok" and run_filter(run):
            lat = run["latency_ms"]
            spread = lat["p95"] - lat["p50"]
            shift = extra_ms if extra_ms is not None else 2 * spread + lat["p50"]  # >100% and > spread
            run["latency_ms"] = {k: v + shift for k, v in lat.items() if k != "std"} | {"std": lat["std"]}
    return cur


def _quiet(rec: dict) -> dict:
    """The record as if measured on a quiet machine (this shared test machine often is not): a rise in a
    noisy run is 'inconclusive', so a clear regression needs runs that were not marked noisy."""
    out = copy.deepcopy(rec)
    for run in out["runs"]:
        if isinstance(run.get("noise"), dict):
            run["noise"].update(noisy=False, reasons=[])
    return out


def test_compare_fails_a_slower_record(records, tmp_path):
    base = _quiet(records["trained"])
    big = max(r["batch_size"] for r in base["runs"])  # the larger of its two batch sizes
    cur = _slower(base, lambda r: r["backend"] == "onnxruntime" and r["batch_size"] == big)
    proc = _compare(tmp_path, base, cur, "--max-latency-regression", "10%")
    assert proc.returncode == 1, proc.stdout + proc.stderr
    lines = [line for line in proc.stdout.splitlines() if "REGRESSION" in line]
    assert len(lines) == 2 and all(f"/bs={big} |" in line and "onnxruntime" in line for line in lines)


def test_compare_is_noise_aware():
    """A change over the threshold but inside the baseline's own spread (p95 - p50) is not a regression."""
    base = {
        "schema_version": 1,
        "model": {"id": "m"},
        "environment": {"hardware_profile": "hw"},
        "runs": [
            {
                "backend": "pytorch",
                "device": "cpu",
                "precision": "fp32",
                "batch_size": 1,
                "status": "ok",
                "latency_ms": {"p50": 10.0, "p95": 14.0},
            }
        ],
    }
    noisy = copy.deepcopy(base)
    noisy["runs"][0]["latency_ms"] = {"p50": 13.0, "p95": 15.0}  # +30%, but 3 ms < 4 ms spread
    result = compare.compare_records(base, noisy, 10.0, 0.5)
    assert not result.regressed and result.runs[0].note == "within baseline spread"
    noisy["runs"][0]["latency_ms"] = {"p50": 14.5, "p95": 15.0}  # +45% and 4.5 ms > spread
    assert compare.compare_records(base, noisy, 10.0, 0.5).regressed
    assert not compare.compare_records(base, noisy, 50.0, 0.5).regressed  # under a 50% threshold
    failed = copy.deepcopy(base)
    failed["runs"][0].update(status="timeout", error="timed out", latency_ms=None)
    assert compare.compare_records(base, failed, 10.0, 0.5).regressed  # a run that stopped working
    assert not compare.compare_records(failed, base, 10.0, 0.5).regressed


def test_compare_fails_an_accuracy_drop(records, tmp_path):
    cur = copy.deepcopy(records["trained"])
    cur["accuracy"]["top1"] -= 2.0
    proc = _compare(tmp_path, records["trained"], cur, "--max-accuracy-drop", "0.5")
    assert proc.returncode == 1
    assert any(line.startswith("| top1 |") and "REGRESSION" in line for line in proc.stdout.splitlines())
    assert _compare(tmp_path, records["trained"], cur, "--max-accuracy-drop", "3").returncode == 0


def _retag(rec: dict, **changes) -> dict:
    cur = copy.deepcopy(rec)
    for dotted, value in changes.items():
        node = cur
        *parents, leaf = dotted.split("__")
        for p in parents:
            node = node[p]
        node[leaf] = value
    return cur


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"model__id": "other-model"}, "different models"),
        ({"environment__hardware_profile": "cuda-nvidia-h100"}, "different hardware profiles"),
        ({"config__min_duration_s": 5.0}, "different benchmark configurations (differ in: min_duration_s)"),
        ({"dataset__num_samples": 1000}, "different datasets"),
    ],
)
def test_compare_refuses_mismatched_records(records, tmp_path, change, message):
    proc = _compare(tmp_path, records["trained"], _retag(records["trained"], **change))
    assert proc.returncode == 2
    assert proc.stdout == "" and message in proc.stderr and proc.stderr.startswith("error: cannot compare")


def test_compare_refuses_different_models_and_non_records(records, tmp_path):
    proc = _compare(tmp_path, records["trained"], records["random"])
    assert proc.returncode == 2 and "different models" in proc.stderr
    (tmp_path / "junk.json").write_text("{not json")
    proc = run_cli("compare", str(tmp_path / "junk.json"), str(tmp_path / "junk.json"), timeout=60)
    assert proc.returncode == 2 and "not a readable JSON result record" in proc.stderr
    proc = run_cli("compare", "a.json", "b.json", "--max-latency-regression", "fast", timeout=60)
    assert proc.returncode == 2 and "expected a percentage" in proc.stderr
