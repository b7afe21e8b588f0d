"""submit(): existence, revision, format and size checks against real timm, real files and a local fake Hub;
rate limit and duplicates; nothing is written on refusal; the CLI's one-line errors."""

from __future__ import annotations

import json
import os
from datetime import timedelta

import pytest

from submissions import SubmissionRefused, SubmissionSettings, submit
from tests._queue_helpers import FAST, cli_env, make_stores, run_queue_cli, run_submit_cli
from tests.hub_server import hub_server  # noqa: F401  (pytest fixture)

OPEN = SubmissionSettings(allow_local_dirs=True, max_params_m=100.0, rate_limit=None)


@pytest.fixture
def stores(tmp_path):
    return make_stores(tmp_path / "data")


@pytest.fixture(scope="module")
def tiny_model_dir(tmp_path_factory):
    """A real timm checkpoint in Hub layout (config.json + model.safetensors)."""
    import timm
    import torch

    from harness.models import save_hub_layout

    torch.manual_seed(0)
    out = tmp_path_factory.mktemp("tiny")
    model = timm.create_model("test_resnet", pretrained=False, num_classes=10)
    save_hub_layout(model, "test_resnet", out)
    return out, sum(p.numel() for p in model.parameters())


def entries(stores):
    return stores.queue.list_files("entries")


def test_timm_submission_becomes_pending_review(stores):
    e = submit(stores, "resnet10t", config=FAST, submitted_by="alice", settings=OPEN)
    assert e.status == "PENDING_REVIEW" and e.source == "timm" and e.revision is None
    assert e.events[0].by == "alice" and e.events[0].status == "PENDING_REVIEW"
    import timm

    real = timm.create_model("resnet10t", pretrained=False)
    assert e.params == sum(p.numel() for p in real.parameters())  # counted on the meta device
    assert e.config["backends"] == ["pytorch"] and e.config["max_samples"] == 500  # defaults filled in
    stored = stores.queue.read_json(f"entries/{e.id}.json")
    assert stored == e.to_dict()


def test_unknown_arch_too_big_and_bad_config_write_nothing(stores):
    with pytest.raises(SubmissionRefused, match="not a timm .* architecture"):
        submit(stores, "resnet_does_not_exist", submitted_by="alice", settings=OPEN)
    with pytest.raises(SubmissionRefused, match=r"above this board's cap of 100M"):
        submit(stores, "vit_large_patch16_224", submitted_by="alice", settings=OPEN)
    with pytest.raises(SubmissionRefused, match="invalid benchmark settings: .*backends"):
        submit(stores, "resnet10t", config={"backends": ["tensorrt"]}, submitted_by="alice", settings=OPEN)
    with pytest.raises(SubmissionRefused, match="fp16 is measured on cuda only"):
        submit(stores, "resnet10t", config={"precisions": ["fp16"]}, submitted_by="alice", settings=OPEN)
    assert entries(stores) == []


def test_duplicates_are_refused_until_rejected(stores):
    from eval_queue.entries import reject

    first = submit(stores, "resnet10t", config=FAST, submitted_by="alice", settings=OPEN)
    with pytest.raises(SubmissionRefused, match=f"already in the queue as {first.id}"):
        submit(stores, "resnet10t", config=FAST, submitted_by="bob", settings=OPEN)
    other = submit(
        stores, "resnet10t", config={**FAST, "batch_sizes": [2]}, submitted_by="bob", settings=OPEN
    )
    assert other.id != first.id
    reject(stores.queue, first.id, by="admin", reason="try again")
    again = submit(stores, "resnet10t", config=FAST, submitted_by="carol", settings=OPEN)
    assert again.status == "PENDING_REVIEW"


def test_already_evaluated_result_key_is_refused(stores):
    from harness.config import BenchmarkConfig, result_key
    from harness.environment import hardware_profile

    cfg = BenchmarkConfig.from_dict(FAST)
    key = result_key("resnet10t", None, cfg, hardware_profile("cpu"))
    stores.results.create_json(f"records/{key}.json", {"key": key})
    with pytest.raises(SubmissionRefused, match=f"already evaluated \\(result {key}\\)"):
        submit(stores, "resnet10t", config=FAST, submitted_by="alice", settings=OPEN)


def test_rate_limit_per_submitter(stores):
    limited = SubmissionSettings(allow_local_dirs=False, max_params_m=None, rate_limit=(2, timedelta(days=7)))
    for bs in (1, 2):
        submit(
            stores, "resnet10t", config={**FAST, "batch_sizes": [bs]}, submitted_by="alice", settings=limited
        )
    with pytest.raises(SubmissionRefused, match=r"rate limit: alice made 2 submissions .* try again after"):
        submit(
            stores, "resnet10t", config={**FAST, "batch_sizes": [3]}, submitted_by="alice", settings=limited
        )
    submit(stores, "resnet10t", config={**FAST, "batch_sizes": [3]}, submitted_by="bob", settings=limited)
    assert len(entries(stores)) == 3


def test_settings_from_env(monkeypatch):
    monkeypatch.delenv("LEADERBOARD_ALLOW_LOCAL_DIRS", raising=False)
    monkeypatch.setenv("LEADERBOARD_RATE_LIMIT", "3/1h")
    monkeypatch.setenv("LEADERBOARD_MAX_PARAMS_M", "50")
    local, hub = SubmissionSettings.from_env("local"), SubmissionSettings.from_env("hub")
    assert local.allow_local_dirs and not hub.allow_local_dirs
    assert local.rate_limit == (3, timedelta(hours=1)) and local.max_params_m == 50
    monkeypatch.setenv("LEADERBOARD_ALLOW_LOCAL_DIRS", "1")
    assert SubmissionSettings.from_env("hub").allow_local_dirs
    monkeypatch.setenv("LEADERBOARD_RATE_LIMIT", "lots")
    with pytest.raises(SubmissionRefused, match="misconfigured"):
        SubmissionSettings.from_env("local")


def test_local_dir_revision_is_weights_sha256(stores, tiny_model_dir):
    import hashlib

    folder, params = tiny_model_dir
    e = submit(stores, f"local-dir:{folder}", config=FAST, submitted_by="alice", settings=OPEN)
    assert e.source == "local-dir" and e.model == f"local-dir:{folder.resolve()}"
    assert e.revision == hashlib.sha256((folder / "model.safetensors").read_bytes()).hexdigest()
    assert e.params >= params  # safetensors header counts buffers (BN statistics) too
    closed = SubmissionSettings(allow_local_dirs=False, max_params_m=None, rate_limit=None)
    with pytest.raises(SubmissionRefused, match="not accepted on this board"):
        submit(
            stores,
            f"local-dir:{folder}",
            config={**FAST, "batch_sizes": [4]},
            submitted_by="a",
            settings=closed,
        )


def test_local_dir_pickle_only_missing_and_bad_config(stores, tmp_path, tiny_model_dir):
    folder, _ = tiny_model_dir
    pickled = tmp_path / "pickled"
    pickled.mkdir()
    (pickled / "config.json").write_text((folder / "config.json").read_text())
    (pickled / "pytorch_model.bin").write_bytes(b"not loaded")
    with pytest.raises(SubmissionRefused, match="only pickle weights"):
        submit(stores, f"local-dir:{pickled}", submitted_by="alice", settings=OPEN)
    with pytest.raises(SubmissionRefused, match="does not exist"):
        submit(stores, f"local-dir:{tmp_path}/nothing", submitted_by="alice", settings=OPEN)
    evil = tmp_path / "evil"
    evil.mkdir()
    (evil / "model.safetensors").write_bytes((folder / "model.safetensors").read_bytes())
    cfg = json.loads((folder / "config.json").read_text())
    cfg["model_args"] = {"act_layer": "os.system"}
    (evil / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(SubmissionRefused, match=r"config.json is not accepted \(bad model spec\)"):
        submit(stores, f"local-dir:{evil}", submitted_by="alice", settings=OPEN)
    assert entries(stores) == []


def test_hub_model_resolves_to_commit_sha(stores, hub_server, tiny_model_dir, tmp_path):  # noqa: F811
    folder, params = tiny_model_dir
    sha = hub_server.seed_model_repo("org/tiny", folder)
    e = submit(stores, "org/tiny", config=FAST, submitted_by="alice", settings=OPEN)
    assert (e.model, e.source, e.revision) == ("hf-hub:org/tiny", "hf-hub", sha)
    from submissions.resolve import safetensors_param_count

    # the Hub's safetensors metadata counts every tensor in the file, like the local-dir header count
    assert e.params == safetensors_param_count(folder / "model.safetensors") >= params
    with pytest.raises(SubmissionRefused, match="already in the queue"):
        submit(stores, f"hf-hub:org/tiny@{sha}", config=FAST, submitted_by="bob", settings=OPEN)
    with pytest.raises(SubmissionRefused, match="does not exist on the Hub"):
        submit(stores, "org/missing", config=FAST, submitted_by="alice", settings=OPEN)
    with pytest.raises(SubmissionRefused, match="has no revision 'nope'"):
        submit(stores, "org/tiny", revision="nope", config=FAST, submitted_by="alice", settings=OPEN)
    pickled = tmp_path / "pickled"
    pickled.mkdir()
    (pickled / "config.json").write_text((folder / "config.json").read_text())
    (pickled / "pytorch_model.bin").write_bytes(b"x")
    hub_server.seed_model_repo("org/pickled", pickled)
    with pytest.raises(SubmissionRefused, match="only pickle weights"):
        submit(stores, "org/pickled", config=FAST, submitted_by="alice", settings=OPEN)
    assert len(entries(stores)) == 1


def test_cli_submit_errors_are_one_line_exit_2(tmp_path):
    env = cli_env(tmp_path / "data", LEADERBOARD_RATE_LIMIT="off")
    bad = run_submit_cli("resnet18;rm -rf ~", "--by", "mallory", env=env)
    assert bad.returncode == 2 and bad.stderr.count("\n") == 1 and bad.stderr.startswith("error: ")
    bad = run_submit_cli("resnet10t", "--batch-sizes", "x", env=env)
    assert bad.returncode == 2 and "batch sizes must be" in bad.stderr
    moved = run_queue_cli("submit", "resnet10t", env=env)  # the old spelling points to the new command
    assert moved.returncode == 2 and "python -m submissions" in moved.stderr
    ok = run_submit_cli("resnet10t", "--by", "alice", "--backends", "pytorch", env=env)
    assert ok.returncode == 0, ok.stderr
    listed = json.loads(run_queue_cli("list", "--json", env=env).stdout)
    assert [e["status"] for e in listed] == ["PENDING_REVIEW"] and listed[0]["submitted_by"] == "alice"


def _layout(folder, arch: str, weights_from: str | None = None, **model_args):
    """A Hub-layout folder whose config.json says ``arch`` but whose weights may come from another model."""
    import timm

    from harness.models import save_hub_layout

    source = weights_from or arch
    model = timm.create_model(source, pretrained=False, num_classes=10, **model_args)
    save_hub_layout(model, source, folder)
    cfg = json.loads((folder / "config.json").read_text())
    cfg["architecture"] = arch
    (folder / "config.json").write_text(json.dumps(cfg))
    return folder


def test_params_come_from_the_weights_which_must_fit_config_json(stores, tmp_path, tiny_model_dir):
    folder, _ = tiny_model_dir
    # a config declaring a big model next to tiny weights: refused, and the counts say why
    big = _layout(tmp_path / "big", "resnet50", weights_from="test_resnet")
    with pytest.raises(
        SubmissionRefused, match=r"do not fit the model config.json declares .*M values, the weights hold"
    ):
        submit(stores, f"local-dir:{big}", config=FAST, submitted_by="alice", settings=OPEN)
    # tiny declared, big weights: refused too (and never counted from config.json)
    small = _layout(tmp_path / "small", "test_resnet", weights_from="resnet10t")
    with pytest.raises(SubmissionRefused, match="do not fit"):
        submit(stores, f"local-dir:{small}", config=FAST, submitted_by="alice", settings=OPEN)
    # a huge header length, a nested header, a truncated file: refused without quoting the file
    for name, payload in {
        "huge": (200 * 2**20).to_bytes(8, "little") + b"{}",
        "nested": (len(b"[" * 50_000)).to_bytes(8, "little") + b"[" * 50_000,
        "truncated": (1000).to_bytes(8, "little") + b'{"SECRET_CONTENT": {"shape": [1]}}',
        "wrongtype": (34).to_bytes(8, "little") + b'{"SECRET_CONTENT": {"shape": "1"}}',
    }.items():
        bad = tmp_path / name
        bad.mkdir()
        (bad / "config.json").write_text((folder / "config.json").read_text())
        (bad / "model.safetensors").write_bytes(payload)
        with pytest.raises(SubmissionRefused) as err:
            submit(stores, f"local-dir:{bad}", config=FAST, submitted_by="alice", settings=OPEN)
        assert "SECRET_CONTENT" not in str(err.value) and "safetensors" in str(err.value), name
    assert entries(stores) == []


def test_local_dir_symlinks_resolve_and_are_checked_like_typed_paths(
    stores, tmp_path, tiny_model_dir, monkeypatch
):
    folder, _ = tiny_model_dir
    link = tmp_path / "link"
    link.symlink_to(folder)
    e = submit(stores, f"local-dir:{link}", config=FAST, submitted_by="alice", settings=OPEN)
    assert e.model == f"local-dir:{folder.resolve()}"  # stored by its real path
    for target in ("/proc/self", "/etc", "/dev"):
        sneaky = tmp_path / f"to{target.replace('/', '_')}"
        sneaky.symlink_to(target)
        with pytest.raises(SubmissionRefused, match=f"is inside /{target.split('/')[1]}"):
            submit(stores, f"local-dir:{sneaky}", config=FAST, submitted_by="alice", settings=OPEN)
    loop = tmp_path / "loop"
    loop.symlink_to(loop)
    with pytest.raises(SubmissionRefused, match="does not exist .*symlink loop"):
        submit(stores, f"local-dir:{loop}", config=FAST, submitted_by="alice", settings=OPEN)
    monkeypatch.setenv("LEADERBOARD_DATA_DIR", str(tmp_path / "board"))
    inside = tmp_path / "board" / "queue"
    inside.mkdir(parents=True)
    with pytest.raises(SubmissionRefused, match="overlaps the board's data directory"):
        submit(stores, f"local-dir:{inside}", config=FAST, submitted_by="alice", settings=OPEN)
    linked = tmp_path / "linked"  # a real folder whose weights are a link to somewhere else
    linked.mkdir()
    (linked / "config.json").write_text((folder / "config.json").read_text())
    (linked / "model.safetensors").symlink_to("/etc/hostname")
    with pytest.raises(SubmissionRefused, match="cannot open model.safetensors .*a link"):
        submit(stores, f"local-dir:{linked}", config=FAST, submitted_by="alice", settings=OPEN)
    fifo = tmp_path / "fifo"
    fifo.mkdir()
    (fifo / "config.json").write_text((folder / "config.json").read_text())
    os.mkfifo(fifo / "model.safetensors")  # opening it for reading would block forever
    with pytest.raises(SubmissionRefused, match="has no model.safetensors"):  # and never opened
        submit(stores, f"local-dir:{fifo}", config=FAST, submitted_by="alice", settings=OPEN)
    odd = tmp_path / "odd name"
    odd.mkdir()
    (tmp_path / "plain").symlink_to(odd)
    with pytest.raises(SubmissionRefused, match="whitespace|may only contain"):
        submit(stores, f"local-dir:{tmp_path / 'plain'}", config=FAST, submitted_by="alice", settings=OPEN)


def test_hub_params_from_the_weights_header_and_config_must_fit(stores, hub_server, tmp_path, tiny_model_dir):  # noqa: F811
    folder, _ = tiny_model_dir
    from submissions.resolve import safetensors_param_count

    hub_server.seed_model_repo("org/tiny", folder)
    e = submit(stores, "org/tiny", config=FAST, submitted_by="alice", settings=OPEN)
    assert e.params == safetensors_param_count(folder / "model.safetensors")
    hub_server.seed_model_repo("org/liar", _layout(tmp_path / "liar", "resnet50", weights_from="test_resnet"))
    with pytest.raises(SubmissionRefused, match="do not fit the model config.json declares"):
        submit(stores, "org/liar", config=FAST, submitted_by="alice", settings=OPEN)
    assert len(entries(stores)) == 1


def test_whole_numbers_are_one_key_and_seeded_jobs_are_claimed_too(stores):
    from eval_queue.entries import enqueue_approved

    first = submit(
        stores, "resnet10t", config={**FAST, "batch_sizes": [3]}, submitted_by="alice", settings=OPEN
    )
    assert first.config["batch_sizes"] == [3]
    with pytest.raises(SubmissionRefused, match=f"already in the queue as {first.id}"):
        submit(stores, "resnet10t", config={**FAST, "batch_sizes": [3.0]}, submitted_by="bob", settings=OPEN)
    for bad, match in [
        ({"batch_sizes": [3.5]}, "batch sizes"),
        ({"batch_sizes": [True]}, "batch sizes"),
        ({"min_duration_s": float("nan")}, "min duration"),
        ({"warmup": 5}, "unknown benchmark setting"),
    ]:
        with pytest.raises(SubmissionRefused, match=match):
            submit(stores, "resnet10t", config={**FAST, **bad}, submitted_by="bob", settings=OPEN)
    seeded = enqueue_approved(stores.queue, "resnet14t", by="system", config=FAST)
    with pytest.raises(SubmissionRefused, match=f"already in the queue as {seeded.id}"):
        submit(stores, "resnet14t", config=FAST, submitted_by="carol", settings=OPEN)
    assert len(entries(stores)) == 2
