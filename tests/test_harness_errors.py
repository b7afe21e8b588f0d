"""The failure taxonomy: every failure exit of ``python -m harness`` names its kind in --error-file."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from harness import cli, errors
from harness.errors import FAILURE_KINDS, HarnessError, describe_failure_kind, is_oom, looks_like_oom
from tests._harness_helpers import REPO


def _subclasses(cls):
    for sub in cls.__subclasses__():
        yield sub
        yield from _subclasses(sub)


def test_every_harness_error_kind_is_in_the_taxonomy():
    kinds = {HarnessError.kind, *(c.kind for c in _subclasses(HarnessError))}
    assert kinds <= set(FAILURE_KINDS)
    worker_side = {"timeout", "oom", "crashed", "no_measurement", "worker_error", "harness_error"}
    assert worker_side <= set(FAILURE_KINDS)
    assert len(FAILURE_KINDS) == len(set(FAILURE_KINDS))
    assert all(describe_failure_kind(k) != "unknown failure kind" for k in FAILURE_KINDS)
    assert describe_failure_kind("<img src=x>") == "unknown failure kind"


@pytest.mark.parametrize(
    "text",
    [
        "RuntimeError: CUDA out of memory. Tried to allocate 2.00 GiB",
        "torch.OutOfMemoryError: CUDA error",
        "MemoryError",
        "terminate called after throwing an instance of 'std::bad_alloc'",
        "OSError: libtorch_cpu.so: failed to map segment from shared object",
        "[ONNXRuntimeError] : 6 : RUNTIME_EXCEPTION : Failed to allocate memory for requested buffer",
        "fork: Cannot allocate memory",
        "x" * 100_000 + "\nMemoryError",
    ],
)
def test_oom_text_is_recognised(text):
    assert looks_like_oom(text)


@pytest.mark.parametrize(
    "text", [None, "", "error: unknown architecture 'x'", "memory usage 3 GB", "x" * 10**6]
)
def test_other_text_is_not_oom(text):
    assert not looks_like_oom(text)


def test_is_oom_on_exceptions():
    assert is_oom(MemoryError())
    assert is_oom(RuntimeError("CUDA out of memory"))
    assert not is_oom(ValueError("out of memory"))  # only errors a runtime raises
    assert not is_oom(RuntimeError("shape mismatch"))
    assert (
        errors.as_harness_error(RuntimeError("DefaultCPUAllocator: can't allocate memory"), "x").kind == "oom"
    )


# ---- --error-file ------------------------------------------------------------------------------------------


def _run(**kw):
    from harness.record import RunRecord

    base = dict(backend="pytorch", device="cpu", provider=None, precision="fp32", batch_size=1, threads=1)
    return RunRecord(**{**base, **kw})


def _record(runs):
    from harness.record import ModelInfo, ResultRecord

    return ResultRecord(
        key="k",
        created_at="2026-01-01T00:00:00Z",
        harness_version="0",
        model=ModelInfo(id="m"),
        dataset=None,
        accuracy=None,
        runs=runs,
        robustness=None,
        environment={},
        config={},
    )


def _main(tmp_path, *argv, name="err.json"):
    path = tmp_path / name
    rc = cli.main([*argv, "--error-file", str(path)])
    return rc, (json.loads(path.read_text()) if path.is_file() else None)


@pytest.mark.parametrize(
    "argv, message",
    [
        (["m", "--batch-sizes", "1,x"], "comma-separated whole numbers"),
        (["m", "--frobnicate"], "unrecognized arguments: --frobnicate"),
        (["m", "--precisions", "fp16"], "fp16 is measured on cuda only"),
        (["m", "--timeout", "0"], "--timeout must be positive"),
        (["m", "--backends", "<img src=x>"], "backends must be"),
    ],
)
def test_bad_flags_write_bad_config(tmp_path, capsys, argv, message):
    rc, body = _main(tmp_path, *argv)
    assert rc == 2 and body["kind"] == "bad_config" and message in body["message"]
    assert body["traceback"] is None and "\n" not in body["message"]
    assert capsys.readouterr().err.strip() == f"error: {body['message']}"


def test_error_file_equals_form_and_a_parse_error_before_it(tmp_path):
    path = tmp_path / "e.json"
    assert cli.main(["m", "--nope", f"--error-file={path}"]) == 2
    assert json.loads(path.read_text())["kind"] == "bad_config"


def test_a_harness_error_keeps_its_kind(tmp_path, monkeypatch):
    import harness.runner

    def refuse(model, config, opts):
        raise errors.UnknownArchitecture(f"unknown architecture {model!r}\n(second line)")

    monkeypatch.setattr(harness.runner, "evaluate_model", refuse)
    rc, body = _main(tmp_path, "no_such_net")
    assert rc == 2 and body == {
        "kind": "unknown_architecture",
        "message": "unknown architecture 'no_such_net' (second line)",
        "traceback": None,
    }


@pytest.mark.parametrize(
    "exc, kind", [(RuntimeError("CUDA out of memory"), "oom"), (ZeroDivisionError("boom"), "harness_error")]
)
def test_an_unexpected_exception_is_classified_with_its_traceback(tmp_path, monkeypatch, exc, kind):
    import harness.runner

    def crash(model, config, opts):
        raise exc

    monkeypatch.setattr(harness.runner, "evaluate_model", crash)
    rc, body = _main(tmp_path, "m")
    assert rc == 2 and body["kind"] == kind and "Traceback" in body["traceback"]
    assert type(exc).__name__ in body["traceback"] and len(body["message"]) < 400


def test_no_measurement_writes_the_record_and_the_first_reason(tmp_path, monkeypatch, capsys):
    import harness.runner

    def all_failed(model, config, opts):
        runs = [_run(batch_size=bs, status="failed", error=f"bs {bs} broke") for bs in (1, 8)]
        return _record(runs)

    monkeypatch.setattr(harness.runner, "evaluate_model", all_failed)
    rc, body = _main(tmp_path, "m")
    assert rc == 1 and body["kind"] == "no_measurement" and "first reason: bs 1 broke" in body["message"]
    assert json.loads(capsys.readouterr().out)["runs"][0]["error"] == "bs 1 broke"  # record still written


def test_success_writes_no_error_file(tmp_path, monkeypatch):
    import harness.runner

    def fine(model, config, opts):
        return _record([_run(provider="torch-cpu")])

    monkeypatch.setattr(harness.runner, "evaluate_model", fine)
    rc, body = _main(tmp_path, "m", "--output", str(tmp_path / "r.json"))
    assert rc == 0 and body is None and (tmp_path / "r.json").is_file()


def test_an_unwritable_error_file_warns_and_keeps_the_exit_status(tmp_path, capsys):
    (tmp_path / "dir.json").mkdir()
    for target in (tmp_path / "dir.json", tmp_path / "missing" / "e.json"):
        assert cli.main(["m", "--nope", "--error-file", str(target)]) == 2
        err = capsys.readouterr().err.splitlines()
        assert err[0].startswith("error: unrecognized") and err[1].startswith("warning: could not write")
    assert (tmp_path / "dir.json").is_dir() and not list(tmp_path.glob(".error-*"))


def test_a_fifo_at_the_path_is_replaced_not_opened(tmp_path):
    fifo = tmp_path / "e.json"
    os.mkfifo(fifo)
    assert cli.main(["m", "--nope", "--error-file", str(fifo)]) == 2  # would block forever if opened
    assert json.loads(fifo.read_text())["kind"] == "bad_config"


def test_the_real_cli_writes_the_file_for_an_unknown_architecture(tmp_path):
    path = tmp_path / "e.json"
    proc = subprocess.run(
        [sys.executable, "-m", "harness", "no_such_net", "--no-dataset", "--error-file", str(path)],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=REPO,
    )
    body = json.loads(path.read_text())
    assert proc.returncode == 2 and body["kind"] == "unknown_architecture"
    assert proc.stderr.strip() == f"error: {body['message']}"
