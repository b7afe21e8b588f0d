"""Pure submission checks: hostile ids, revisions, submitter names, rate limits, duplicates, Hub answers."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from huggingface_hub.hf_api import ModelInfo

from submissions.validate import (
    SubmissionRefused,
    check_hub_info,
    check_job,
    check_local_root,
    check_not_duplicate,
    check_not_evaluated,
    check_params,
    check_revision,
    check_submitter,
    merge_revision,
    parse_model_id,
    parse_rate_limit,
)

HOSTILE_IDS = [
    ("", "empty"),
    (" ", "whitespace"),
    ("resnet18 ", "whitespace"),
    ("res net18", "whitespace"),
    ("resnet18\n", "control character"),
    ("resnet\x0018", "control character"),
    ("resnet\x1b[31m18", "control character"),
    ("resnet\u200b18", "control character"),  # zero-width space
    ("rèsnet18", "non-ASCII"),
    ("r" * 201, "at most 200"),
    ("org/" + "n" * 97, "longer than 96"),
    ("../etc/passwd", "'..'"),
    ("org/../../etc", "'..'"),
    ("hf-hub:org/name@..", "'..'"),
    ("hf-hub:../x", "'..'"),
    ("https://huggingface.co/timm/resnet18", "URL"),
    ("http://evil.example/model", "URL"),
    ("huggingface.co/timm/resnet18", "URL"),
    ("file:///etc/passwd", "URL"),
    ("resnet18;rm -rf /", "whitespace"),
    ("resnet18;id", "';'"),
    ("resnet18|cat", "'|'"),
    ("resnet18&&id", "'&'"),
    ("$(id)", "'$()'"),
    ("`id`", "'`'"),
    ("org/name>out", "'>'"),
    ("org/na*e", "'*'"),
    ("org/name'", '"\'"'),
    ("org\\name", "'\\\\'"),
    ("org/name/extra", "exactly org/name"),
    ("/etc/passwd", "exactly org/name"),
    ("org/", "empty org or name"),
    ("/name", "empty org or name"),
    ("-org/name", "invalid"),
    ("org/name-", "invalid"),
    ("org/na--me", "invalid"),
    ("hf-hub:org/name@", "ends with '@'"),
    ("hf-hub:org", "exactly org/name"),
    ("s3:bucket/model", "unknown model source"),
    ("git@github.com:org/repo", "unknown model source"),
    ("resnet18@v1", "unknown model source"),
    ("resnet18.a1_in1k", "drop the '.tag'"),
    ("local-dir:/tmp/model", "not accepted on this board"),
]


@pytest.mark.parametrize("model_id,expected", HOSTILE_IDS, ids=[repr(i)[:40] for i, _ in HOSTILE_IDS])
def test_hostile_model_ids_are_refused_with_a_reason(model_id, expected):
    with pytest.raises(SubmissionRefused) as err:
        parse_model_id(model_id, allow_local_dirs=False)
    msg = str(err.value)
    assert "\n" not in msg and len(msg) < 400
    assert expected.strip("'") in msg or expected in msg, msg


def test_hostile_ids_through_submit_write_nothing_and_echo_only_the_id(tmp_path):
    """The public entry point refuses every hostile id before touching the network or the queue."""
    from submissions import SubmissionSettings, submit
    from tests._queue_helpers import make_stores

    stores = make_stores(tmp_path)
    closed = SubmissionSettings(allow_local_dirs=False, max_params_m=None, rate_limit=(1, timedelta(days=1)))
    for model_id, _ in HOSTILE_IDS:
        with pytest.raises(SubmissionRefused) as err:
            submit(stores, model_id, submitted_by="mallory", settings=closed)
        assert "\n" not in str(err.value)
    assert stores.queue.list_files("") == []  # no entry, no claim, no rate slot taken


LOCAL_IDS = [
    ("local-dir:relative/path", "must be absolute"),
    ("local-dir:/tmp/../etc", "'..'"),
    ("local-dir:/tmp/a b", "whitespace"),
    ("local-dir:/tmp/$HOME", "may only contain"),
    ("local-dir:/tmp//model", "not a normalised"),
    ("local-dir:/tmp/./model", "not a normalised"),
    ("local-dir:/", "not a normalised"),
    ("local-dir:", "must be absolute"),
]


@pytest.mark.parametrize("model_id,expected", LOCAL_IDS)
def test_bad_local_dirs_are_refused_even_when_allowed(model_id, expected):
    with pytest.raises(SubmissionRefused, match=expected.replace("$", r"\$").replace(".", r"\.")):
        parse_model_id(model_id, allow_local_dirs=True)


def test_accepted_forms_are_canonicalised():
    assert parse_model_id("resnet18", False).model == "resnet18"
    assert parse_model_id("timm/resnet18.a1_in1k", False).model == "hf-hub:timm/resnet18.a1_in1k"
    ref = parse_model_id("hf-hub:org/tiny-model_v1.2@v1.0", False)
    assert (ref.source, ref.name, ref.revision) == ("hf-hub", "org/tiny-model_v1.2", "v1.0")
    assert parse_model_id("local-dir:/models/tiny/", True).model == "local-dir:/models/tiny"


@pytest.mark.parametrize(
    "rev", ["../main", "main;id", "a b", "main\n", "-rf", "refs//heads", "main/", "x.lock", "r" * 129, "é"]
)
def test_bad_revisions(rev):
    with pytest.raises(SubmissionRefused):
        check_revision(rev)


def test_good_revisions_and_merge():
    assert check_revision("main") == "main"
    assert check_revision("refs/pr/1") == "refs/pr/1"
    assert check_revision("a" * 40) == "a" * 40
    assert check_revision("") is None
    ref = parse_model_id("hf-hub:org/m@v1", False)
    assert merge_revision(ref, None) == "v1"
    assert merge_revision(ref, "v1") == "v1"
    with pytest.raises(SubmissionRefused, match="two revisions"):
        merge_revision(ref, "v2")
    with pytest.raises(SubmissionRefused, match="no revision"):
        merge_revision(parse_model_id("resnet18", False), "main")
    with pytest.raises(SubmissionRefused, match="sha256"):
        merge_revision(parse_model_id("local-dir:/m", True), "abc")


@pytest.mark.parametrize("name", ["", "   ", "a" * 65, "bob\x07", "<script>", "$(id)", "-x"])
def test_bad_submitter_names(name):
    with pytest.raises(SubmissionRefused):
        check_submitter(name)


def test_rate_limit_parsing_and_window():
    assert parse_rate_limit("5/7d") == (5, timedelta(days=7))
    assert parse_rate_limit("2/h") == (2, timedelta(hours=1))
    assert parse_rate_limit("off") is None and parse_rate_limit("0") is None
    for bad in ("5", "five/7d", "5/7y", "0/1d"):
        with pytest.raises(ValueError):
            parse_rate_limit(bad)


def test_duplicates_ignore_rejected_and_failed_entries():
    from eval_queue.entry import fingerprint, make_entry

    cfg = {"device": "cpu"}
    base = make_entry("resnet18", "timm", None, cfg, "alice", datetime(2026, 1, 1, tzinfo=UTC))
    fp = fingerprint("resnet18", None, cfg)
    for status in ("REJECTED", "FAILED"):
        check_not_duplicate([replace(base, status=status)], fp, "resnet18")
    for status in ("PENDING_REVIEW", "APPROVED", "RUNNING", "FINISHED"):
        with pytest.raises(SubmissionRefused, match=f"already in the queue as {base.id}"):
            check_not_duplicate([replace(base, status=status)], fp, "resnet18")
    check_not_duplicate([base], fingerprint("resnet18", None, {"device": "cuda"}), "resnet18")
    assert fingerprint("m", None, {"a": 1, "b": [1]}) == fingerprint("m", None, {"b": [1], "a": 1})
    with pytest.raises(SubmissionRefused, match="already evaluated"):
        check_not_evaluated("abc123", "resnet18")


def _cfg(**kw):
    from harness.config import BenchmarkConfig

    return BenchmarkConfig.from_dict({"backends": ["pytorch"], **kw})


def test_job_checks_refuse_what_a_worker_would_refuse():
    offered, cpu = ("digits",), ("cpu",)
    check_job(_cfg(), "timm", offered, cpu)
    check_job(_cfg(dataset="digits", robustness=True), "hf-hub", offered, cpu)
    for cfg, source, match in [
        (_cfg(dataset="/"), "hf-hub", "not offered on this board"),
        (_cfg(dataset="/proc/self/environ"), "local-dir", "not offered"),
        (_cfg(dataset="<img src=x>"), "hf-hub", "not offered"),
        (_cfg(device="cuda"), "hf-hub", "not available on this board's workers"),
        (_cfg(dataset="digits"), "timm", "random weights"),
        (_cfg(robustness=True), "hf-hub", "robustness needs a dataset"),
        (_cfg(extra={"x": 1}), "hf-hub", "extra benchmark settings"),
    ]:
        with pytest.raises(SubmissionRefused, match=match):
            check_job(cfg, source, offered, cpu)
    check_job(_cfg(device="cuda"), "hf-hub", offered, ("cpu", "cuda"))


def test_local_roots_outside_system_and_data_folders(tmp_path):
    data = tmp_path / "data"
    check_local_root(tmp_path / "models" / "m", data)
    for bad, match in [
        ("/proc/1", "inside /proc"),
        ("/sys/kernel", "inside /sys"),
        ("/dev", "inside /dev"),
        ("/etc/ssl", "inside /etc"),
    ]:
        with pytest.raises(SubmissionRefused, match=match):
            check_local_root(Path(bad), data)
    for bad in (data, data / "queue", tmp_path):  # inside the data dir, or containing it
        with pytest.raises(SubmissionRefused, match="overlaps the board's data directory"):
            check_local_root(bad, data)
    with pytest.raises(SubmissionRefused, match="may only contain"):
        check_local_root(tmp_path / "a;b", data)


def test_param_cap():
    check_params(5_000_000, 10, "m")
    check_params(5_000_000, None, "m")
    with pytest.raises(SubmissionRefused, match=r"5\.0M parameters, above this board's cap of 4M"):
        check_params(5_000_000, 4, "m")


def _info(files, sha="a" * 40, **kw):
    return ModelInfo(id="org/m", sha=sha, siblings=[{"rfilename": f, "size": 1000} for f in files], **kw)


def test_hub_info_checks():
    assert check_hub_info(_info(["config.json", "model.safetensors"]), "org/m") == "a" * 40
    with pytest.raises(SubmissionRefused, match="only pickle weights"):
        check_hub_info(_info(["config.json", "pytorch_model.bin"]), "org/m")
    with pytest.raises(SubmissionRefused, match="sharded"):
        check_hub_info(_info(["config.json", "model.safetensors.index.json"]), "org/m")
    with pytest.raises(SubmissionRefused, match="no config.json"):
        check_hub_info(_info(["model.safetensors"]), "org/m")
    with pytest.raises(SubmissionRefused, match="commit sha"):
        check_hub_info(_info(["config.json", "model.safetensors"], sha=None), "org/m")
    with pytest.raises(SubmissionRefused, match="gated"):
        check_hub_info(_info(["config.json", "model.safetensors"], gated="auto"), "org/m")
    with pytest.raises(SubmissionRefused, match="download cap"):
        check_hub_info(_info(["config.json", "model.safetensors"]), "org/m", max_download_mb=0.0001)
    with pytest.raises(SubmissionRefused, match="config.json is larger than 500 bytes"):
        check_hub_info(_info(["config.json", "model.safetensors"]), "org/m", max_config_bytes=500)
