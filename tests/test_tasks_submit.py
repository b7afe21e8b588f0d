"""Submitting detection, segmentation and pose models: ``torchvision:ARCH`` by name, transformers checkpoints
(tiny ones built from configs, in Hub layout, on local-dir and the local fake Hub), the model's task
checked against the requested one, the dataset against the task; remote code, pickles, unknown classes
and hostile configs refused in one line; the CLI's ``--task``; the reference suite seeds every task."""

from __future__ import annotations

import json
import shutil
import time

import pytest

from submissions import SubmissionRefused, SubmissionSettings, submit
from submissions.validate import parse_model_id
from tests._queue_helpers import FAST, cli_env, make_stores, run_submit_cli
from tests._task_helpers import tiny_detr, tiny_segformer, tiny_vitpose
from tests.hub_server import hub_server  # noqa: F401  (pytest fixture)

OPEN = SubmissionSettings(
    allow_local_dirs=True,
    max_params_m=100.0,
    rate_limit=None,
    datasets=("digits", "synthetic-detection", "synthetic-segmentation", "synthetic-pose"),
)


@pytest.fixture
def stores(tmp_path):
    return make_stores(tmp_path / "data")


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory):
    root = tmp_path_factory.mktemp("ckpt")
    return {
        "detection": tiny_detr(root / "detr"),
        "segmentation": tiny_segformer(root / "segformer"),
        "pose": tiny_vitpose(root / "vitpose"),
    }


def _copy(src, dst, **config_changes):
    shutil.copytree(src, dst)
    cfg = json.loads((dst / "config.json").read_text())
    cfg.update(config_changes)
    (dst / "config.json").write_text(json.dumps(cfg))
    return dst


def entries(stores):
    return stores.queue.list_files("entries")


def test_torchvision_ids_parse_strictly():
    ref = parse_model_id("torchvision:ssdlite320_mobilenet_v3_large", allow_local_dirs=False)
    assert (ref.source, ref.name, ref.model) == (
        "torchvision",
        "ssdlite320_mobilenet_v3_large",
        "torchvision:ssdlite320_mobilenet_v3_large",
    )
    for bad in ("torchvision:", "torchvision:ResNet18", "torchvision:a/b", "torchvision:" + "a" * 150):
        with pytest.raises(SubmissionRefused, match="torchvision architecture") as err:
            parse_model_id(bad, allow_local_dirs=False)
        assert "\n" not in str(err.value)


@pytest.mark.parametrize(
    ("model", "task", "params_m"),
    [
        ("torchvision:ssdlite320_mobilenet_v3_large", "detection", 3.44),
        ("torchvision:lraspp_mobilenet_v3_large", "segmentation", 3.22),
        ("torchvision:keypointrcnn_resnet50_fpn", "pose", 59.19),
    ],
)
def test_torchvision_models_are_queued_for_their_own_task(stores, model, task, params_m):
    e = submit(stores, model, config=FAST, submitted_by="alice", settings=OPEN)
    assert (e.source, e.model, e.revision, e.config["task"]) == ("torchvision", model, None, task)
    assert round(e.params / 1e6, 2) == params_m  # counted on the meta device
    other = "segmentation" if task != "segmentation" else "detection"
    with pytest.raises(SubmissionRefused, match=f"is a {task} model .*not a {other} model") as err:
        submit(
            stores, model, config={**FAST, "batch_sizes": [2]}, submitted_by="bob", settings=OPEN, task=other
        )
    assert "\n" not in str(err.value) and "torchvision" in str(err.value)
    assert len(entries(stores)) == 1


def test_unknown_and_unbenchmarked_torchvision_names_and_random_weight_rules(stores):
    with pytest.raises(SubmissionRefused, match="unknown torchvision architecture 'ssdlite_nope'"):
        submit(stores, "torchvision:ssdlite_nope", submitted_by="alice", settings=OPEN)
    with pytest.raises(SubmissionRefused, match="video, optical flow"):
        submit(stores, "torchvision:r3d_18", submitted_by="alice", settings=OPEN)  # a video model
    with pytest.raises(SubmissionRefused, match="random weights"):
        submit(
            stores,
            "torchvision:ssdlite320_mobilenet_v3_large",
            config={**FAST, "dataset": "synthetic-detection"},
            submitted_by="alice",
            settings=OPEN,
        )
    with pytest.raises(SubmissionRefused, match="no revision"):
        submit(stores, "torchvision:resnet18", revision="main", submitted_by="alice", settings=OPEN)
    assert entries(stores) == []


def test_a_timm_model_is_classification_and_the_task_must_be_known(stores):
    with pytest.raises(
        SubmissionRefused, match=r"resnet10t is a classification model \(a timm classifier\), not a pose"
    ):
        submit(stores, "resnet10t", config=FAST, submitted_by="alice", settings=OPEN, task="pose")
    with pytest.raises(SubmissionRefused, match="unknown task 'depth'"):
        submit(stores, "resnet10t", config=FAST, submitted_by="alice", settings=OPEN, task="depth")
    with pytest.raises(SubmissionRefused, match="two tasks given"):
        submit(
            stores,
            "resnet10t",
            config={**FAST, "task": "pose"},
            task="detection",
            submitted_by="a",
            settings=OPEN,
        )
    e = submit(stores, "resnet10t", config=FAST, submitted_by="alice", settings=OPEN, task="classification")
    assert "task" not in e.config  # classification configs (and result keys) are what they were


@pytest.mark.parametrize("task", ["detection", "segmentation", "pose"])
def test_transformers_checkpoints_read_their_task_from_config_json(stores, checkpoints, task):
    from submissions.resolve import safetensors_param_count

    folder = checkpoints[task]
    config = {**FAST, "dataset": f"synthetic-{task}"}
    e = submit(stores, f"local-dir:{folder}", config=config, submitted_by="alice", settings=OPEN)
    assert e.source == "local-dir" and e.config["task"] == task and e.config["dataset"] == f"synthetic-{task}"
    assert e.params == safetensors_param_count(folder / "model.safetensors")
    wrong = "classification" if task != "classification" else "pose"
    arch = json.loads((folder / "config.json").read_text())["architectures"][0]
    with pytest.raises(SubmissionRefused, match=f"config.json architectures {arch}.*not a {wrong} model"):
        submit(stores, f"local-dir:{folder}", config=FAST, submitted_by="bob", settings=OPEN, task=wrong)
    with pytest.raises(SubmissionRefused, match=f"dataset digits is a classification set; a {task} model"):
        submit(
            stores,
            f"local-dir:{folder}",
            config={**FAST, "dataset": "digits"},
            submitted_by="b",
            settings=OPEN,
        )
    assert len(entries(stores)) == 1


def test_transformers_checkpoints_that_cannot_run_are_refused_at_the_door(stores, checkpoints, tmp_path):
    detr = checkpoints["detection"]
    cases = {
        "remote": ({"auto_map": {"AutoModel": "evil.Model"}}, "remote code"),
        "two": ({"architectures": ["DetrForObjectDetection", "DetrModel"]}, "exactly one transformers class"),
        "unknown": (
            {"architectures": ["EvilForObjectDetection"]},
            "EvilForObjectDetection is not a transformers",
        ),
        "notask": ({"architectures": ["DetrModel"]}, "not one the benchmark runs"),
        "type": ({"model_type": "no_such_type"}, "unknown transformers model_type"),
        "huge": ({"encoder_layers": 10**7}, "encoder_layers = 10000000 is beyond"),
        "liar": ({"d_model": 32}, "do not fit the model config.json declares"),
    }
    t0 = time.monotonic()
    for name, (change, why) in cases.items():
        folder = _copy(detr, tmp_path / name, **change)
        with pytest.raises(SubmissionRefused, match=why) as err:
            submit(stores, f"local-dir:{folder}", config=FAST, submitted_by="alice", settings=OPEN)
        assert "\n" not in str(err.value), name
    assert time.monotonic() - t0 < 120  # a hostile size is refused before anything is built
    pickled = tmp_path / "pickled"
    pickled.mkdir()
    (pickled / "config.json").write_text((detr / "config.json").read_text())
    (pickled / "pytorch_model.bin").write_bytes(b"x")
    with pytest.raises(SubmissionRefused, match="only pickle weights"):
        submit(stores, f"local-dir:{pickled}", config=FAST, submitted_by="alice", settings=OPEN)
    swapped = _copy(detr, tmp_path / "swapped")
    shutil.copy(checkpoints["segmentation"] / "model.safetensors", swapped / "model.safetensors")
    with pytest.raises(SubmissionRefused, match="do not fit"):
        submit(stores, f"local-dir:{swapped}", config=FAST, submitted_by="alice", settings=OPEN)
    assert entries(stores) == []


def test_a_transformers_model_on_the_hub(stores, hub_server, checkpoints):  # noqa: F811
    sha = hub_server.seed_model_repo("org/tiny-segformer", checkpoints["segmentation"])
    e = submit(stores, "org/tiny-segformer", config=FAST, submitted_by="alice", settings=OPEN)
    assert (e.model, e.revision, e.config["task"]) == ("hf-hub:org/tiny-segformer", sha, "segmentation")
    with pytest.raises(SubmissionRefused, match="SegformerForSemanticSegmentation.*not a detection model"):
        submit(stores, "org/tiny-segformer", config=FAST, submitted_by="bob", settings=OPEN, task="detection")


def test_cli_task_flag(tmp_path):
    env = cli_env(tmp_path / "data", LEADERBOARD_RATE_LIMIT="off")
    model = "torchvision:lraspp_mobilenet_v3_large"
    bad = run_submit_cli(model, "--task", "detection", "--by", "alice", env=env)
    assert bad.returncode == 2 and bad.stderr.count("\n") == 1
    assert "is a segmentation model" in bad.stderr and "not a detection model" in bad.stderr
    bad = run_submit_cli(model, "--task", "depth", env=env)
    assert bad.returncode == 2 and bad.stderr.count("\n") == 1 and "invalid choice" in bad.stderr
    ok = run_submit_cli(model, "--task", "segmentation", "--by", "alice", "--backends", "pytorch", env=env)
    assert ok.returncode == 0, ok.stderr
    assert "segmentation" in ok.stdout and "PENDING_REVIEW" in ok.stdout


def test_reference_suite_seeds_every_task(stores):
    from eval_queue import seed
    from eval_queue.entries import list_entries

    assert seed.seed_reference_suite(stores) == len(seed.SEED_MODELS)
    tasks = {e.config.get("task", "classification") for e in list_entries(stores.queue)}
    assert tasks == {"classification", "detection", "segmentation", "pose"}
    assert {e.status for e in list_entries(stores.queue)} == {"APPROVED"}
    assert seed.seed_reference_suite(stores) == 0  # never on a board that has entries


def test_the_submit_form_takes_the_task(tmp_path, monkeypatch):
    from tests._leaderboard_helpers import installed_board
    from ui.submit_tab import SubmitForm, submit_form

    monkeypatch.setenv("LEADERBOARD_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("LEADERBOARD_RATE_LIMIT", "off")

    def form(model: str, task: str) -> SubmitForm:
        return SubmitForm(model, "", ["pytorch"], ["fp32"], "1", "cpu", "none", 0.1, "alice", task=task)

    with installed_board(tmp_path, []):
        out = submit_form(form("resnet10t", "detection"), None)
        assert out.startswith("**Refused:**") and "is a classification model" in out and "\n" not in out
        out = submit_form(form("torchvision:lraspp_mobilenet_v3_large", ""), None)  # "" = from the model
        assert out.startswith("**Queued**") and "(segmentation)" in out
