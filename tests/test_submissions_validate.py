"""Pure submission checks: hostile ids, revisions, submitter names, rate limits, duplicates, Hub answers."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from huggingface_hub.hf_api import ModelInfo

from submissions.validate import (
    SubmissionRefused,
    check_hub_info,
    check_not_duplicate,
    check_params,
    check_rate_limit,
    check_revision,
    check_submitter,
    hub_param_count,
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


def test_at_least_thirty_hostile_ids():
    assert len(HOSTILE_IDS) >= 30


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
    now = datetime(2026, 1, 10, tzinfo=UTC)

    def entry(days_ago, who="alice"):
        t = now - timedelta(days=days_ago)
        return {"submitted_by": who, "submitted_at": t.isoformat().replace("+00:00", "Z")}

    entries = [entry(1), entry(2), entry(8), entry(0.5, "bob")]
    check_rate_limit(entries, "alice", now, (3, timedelta(days=7)))  # 2 inside the window: fine
    with pytest.raises(SubmissionRefused, match=r"alice made 2 submissions in the last 7 days \(limit 2\)"):
        check_rate_limit(entries, "alice", now, (2, timedelta(days=7)))
    check_rate_limit(entries, "alice", now, None)


def test_duplicates_ignore_rejected_and_failed_entries():
    cfg = {"device": "cpu"}
    base = {"model": "resnet18", "revision": None, "config": cfg, "id": "e1"}
    for status in ("REJECTED", "FAILED"):
        check_not_duplicate([{**base, "status": status}], "resnet18", None, cfg, None)
    for status in ("PENDING_REVIEW", "APPROVED", "RUNNING", "FINISHED"):
        with pytest.raises(SubmissionRefused, match="already in the queue as e1"):
            check_not_duplicate([{**base, "status": status}], "resnet18", None, cfg, None)
    check_not_duplicate([{**base, "status": "APPROVED"}], "resnet18", None, {"device": "cuda"}, None)
    with pytest.raises(SubmissionRefused, match="already evaluated"):
        check_not_duplicate([], "resnet18", None, cfg, "abc123")


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
    info = ModelInfo(id="org/m", sha="a" * 40, safetensors={"parameters": {"F32": 1234}, "total": 1234})
    assert hub_param_count(info) == 1234
    assert hub_param_count(_info([])) is None
