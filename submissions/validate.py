"""Pure checks of a submission (no network, no files): id and revision syntax, submitter name, rate limit,
duplicates, parameter cap, and the Hub's answer about a model. Each refusal says what to fix."""

from __future__ import annotations

import posixpath
import re
import unicodedata
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any, NoReturn

if TYPE_CHECKING:
    from eval_queue.entry import QueueEntry

MAX_ID_LEN = 200
MAX_PART_LEN = 96
MAX_REVISION_LEN = 128
MAX_SUBMITTER_LEN = 64
WEIGHTS_NAME = "model.safetensors"
CONFIG_NAME = "config.json"
PICKLE_SUFFIXES = (".bin", ".pt", ".pth", ".pkl", ".ckpt", ".pickle")

_HUB_PART = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?$")
_TIMM_ARCH = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]*$")
_TORCHVISION_ARCH = re.compile(r"^[a-z][a-z0-9_]{0,99}$")  # as harness.models.parse_model_spec reads it
_REVISION = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._/-]*$")
_LOCAL_PATH = re.compile(r"^/[A-Za-z0-9._+/-]*$")
_SHELL_META = set(";|&$`<>(){}[]*?!~'\"\\#%^,=\n\r\t")
_SUBMITTER = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@ -]*$")


RANDOM_WEIGHT_SOURCES = ("timm", "torchvision")  # an architecture by name: efficiency only


class SubmissionRefused(ValueError):
    """The submission was not queued; the message (one line) says what to fix."""


@dataclass(frozen=True)
class ModelRef:
    """A syntactically valid model id. ``model`` is the canonical harness spec stored in the queue."""

    source: str  # timm | torchvision | hf-hub | local-dir
    name: str  # arch | arch | org/name | /abs/path
    revision: str | None = None  # given inside the id (hf-hub:org/name@rev)

    @property
    def model(self) -> str:
        return self.name if self.source == "timm" else f"{self.source}:{self.name}"


def _refuse(msg: str) -> NoReturn:
    raise SubmissionRefused(msg)


def _check_text(text: Any, what: str, max_len: int) -> str:
    if not isinstance(text, str) or not text:
        _refuse(f"{what} is empty")
    if len(text) > max_len:
        _refuse(f"{what} is {len(text)} characters long; at most {max_len} are allowed")
    for ch in text:
        if unicodedata.category(ch) in ("Cc", "Cf", "Zl", "Zp"):
            _refuse(f"{what} contains a control character ({ord(ch):#x}); remove it")
        if ch.isspace():
            _refuse(f"{what} contains whitespace; remove the spaces")
        if not ch.isascii():
            _refuse(f"{what} contains the non-ASCII character {ch!r}; model ids are ASCII")
    return text


def _no_url(text: str) -> None:
    low = text.lower()
    if "://" in low or low.startswith(("http:", "https:", "www.", "huggingface.co/", "hf.co/")):
        _refuse(f"{text!r} looks like a URL; give the Hub id as org/name (e.g. timm/resnet18.a1_in1k)")


def _no_traversal(text: str, what: str) -> None:
    if ".." in text:
        _refuse(f"{what} {text!r} contains '..'; path tricks are not allowed")


def check_hub_repo(repo: str) -> str:
    parts = repo.split("/")
    if len(parts) != 2:
        _refuse(f"Hub model id {repo!r} must be exactly org/name")
    for part in parts:
        if not part:
            _refuse(f"Hub model id {repo!r} has an empty org or name")
        if len(part) > MAX_PART_LEN:
            _refuse(f"Hub model id part {part[:20]!r}... is longer than {MAX_PART_LEN} characters")
        if not _HUB_PART.match(part) or "--" in part:
            _refuse(
                f"Hub model id part {part!r} is invalid: use letters, digits, '-', '_' and '.', "
                "starting and ending with a letter or digit"
            )
    return repo


def check_revision(revision: str | None) -> str | None:
    """A branch, tag or commit sha; None means the default branch."""
    if revision is None or revision == "":
        return None
    _check_text(revision, "revision", MAX_REVISION_LEN)
    _no_traversal(revision, "revision")
    bad = sorted(set(revision) & _SHELL_META)
    if bad:
        _refuse(f"revision {revision!r} contains {''.join(bad)!r}; use a branch, tag or commit sha")
    if not _REVISION.match(revision) or "//" in revision or revision.endswith(("/", ".lock", ".")):
        _refuse(f"revision {revision!r} is not a valid branch, tag or commit sha")
    return revision


def parse_model_id(text: Any, allow_local_dirs: bool) -> ModelRef:
    """Accept ``timm-arch``, ``torchvision:arch``, ``org/name``, ``hf-hub:org/name[@rev]`` or
    ``local-dir:/abs/path``."""
    text = _check_text(text, "model id", MAX_ID_LEN)
    _no_url(text)
    if text.startswith("local-dir:"):
        if not allow_local_dirs:
            _refuse(
                "local-dir models are not accepted on this board (LEADERBOARD_ALLOW_LOCAL_DIRS is off); "
                "push the model to the Hub and submit org/name"
            )
        return ModelRef("local-dir", check_local_path(text[len("local-dir:") :]))
    _no_traversal(text, "model id")
    bad = sorted(set(text) & _SHELL_META)
    if bad:
        _refuse(
            f"model id {text!r} contains {''.join(bad)!r}; use letters, digits, '-', '_', '.' and one '/'"
        )
    if text.startswith("torchvision:"):
        arch = text[len("torchvision:") :]
        if not _TORCHVISION_ARCH.match(arch):
            _refuse(
                f"torchvision architecture {arch[:60]!r} must be a builder name in lower case letters, digits "
                "and '_' (e.g. torchvision:ssdlite320_mobilenet_v3_large)"
            )
        return ModelRef("torchvision", arch)
    if text.startswith("hf-hub:"):
        rest = text[len("hf-hub:") :]
        repo, at, rev = rest.partition("@")
        if at and not rev:
            _refuse(f"{text!r} ends with '@'; give a revision after it or drop the '@'")
        return ModelRef("hf-hub", check_hub_repo(repo), check_revision(rev) if at else None)
    if ":" in text or "@" in text:
        _refuse(
            f"unknown model source in {text!r}: use a timm architecture, torchvision:ARCH, org/name, "
            "hf-hub:org/name[@rev]" + (" or local-dir:/path" if allow_local_dirs else "")
        )
    if "/" in text:
        return ModelRef("hf-hub", check_hub_repo(text))
    if "." in text:
        _refuse(
            f"{text!r}: timm architectures are evaluated with random weights, so drop the '.tag'; for "
            "pretrained weights submit the Hub repo (e.g. timm/NAME.TAG)"
        )
    if not _TIMM_ARCH.match(text):
        _refuse(f"timm architecture {text!r} may only contain letters, digits, '_' and '-'")
    return ModelRef("timm", text)


def check_local_path(path: str) -> str:
    """An absolute, normalised path of plain characters (as typed, and again once symlinks resolve)."""
    _no_traversal(path, "path")
    if not path.startswith("/"):
        _refuse(f"local-dir path {path!r} must be absolute (start with /)")
    if not _LOCAL_PATH.match(path):
        _refuse(f"local-dir path {path!r} may only contain letters, digits and . _ + - /")
    norm = posixpath.normpath(path)
    if norm != path.rstrip("/") or norm == "/":
        _refuse(f"local-dir path {path!r} is not a normalised directory path (try {norm!r})")
    return norm


# Never a model folder, whatever a symlink says: kernel and device views, system configuration.
SYSTEM_DIRS = ("/proc", "/sys", "/dev", "/etc", "/boot", "/run", "/var/run", "/root")


def _inside(path: PurePosixPath, folder: PurePosixPath) -> bool:
    return path == folder or folder in path.parents


def check_local_root(root: Path, data_dir: Path) -> None:
    """The resolved (real) folder of a local-dir model: validated like a typed path, outside system
    folders and outside the board's own data directory (queue entries, results, tokens' neighbours)."""
    check_local_path(str(root))
    real = PurePosixPath(root)
    for system in SYSTEM_DIRS:
        if _inside(real, PurePosixPath(system)):
            _refuse(f"local-dir {root} is inside {system}; point to a folder that holds a model")
    if _inside(real, PurePosixPath(data_dir)) or _inside(PurePosixPath(data_dir), real):
        _refuse(f"local-dir {root} overlaps the board's data directory; copy the model elsewhere")


def merge_revision(ref: ModelRef, revision: str | None) -> str | None:
    """The requested revision from the id and/or the separate field (they must agree)."""
    revision = check_revision(revision)
    if ref.revision and revision and ref.revision != revision:
        _refuse(f"two revisions given ({ref.revision!r} in the id, {revision!r} as revision); give one")
    revision = revision or ref.revision
    if revision and ref.source in RANDOM_WEIGHT_SOURCES:
        _refuse(f"{ref.source} architectures have no revision (random weights); leave the revision empty")
    if revision and ref.source == "local-dir":
        _refuse("local-dir models get their revision from the weights' sha256; leave the revision empty")
    return revision


def check_submitter(name: Any) -> str:
    if not isinstance(name, str) or not name.strip():
        _refuse("submitter is empty: sign in or give your name")
    name = name.strip()
    if len(name) > MAX_SUBMITTER_LEN:
        _refuse(f"submitter name is longer than {MAX_SUBMITTER_LEN} characters")
    if any(unicodedata.category(c).startswith("C") for c in name) or not _SUBMITTER.match(name):
        _refuse("submitter name may only contain letters, digits, spaces and . _ @ -")
    return name


# --- rate limit ---------------------------------------------------------------------------------
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


def parse_rate_limit(text: str) -> tuple[int, timedelta] | None:
    """``'5/7d'`` -> (5, 7 days); ``'0'``/``'off'`` -> None (no limit)."""
    text = (text or "").strip().lower()
    if text in ("0", "off", "none", ""):
        return None
    m = re.fullmatch(r"(\d+)\s*/\s*(\d*)\s*([smhdw])", text)
    if not m:
        raise ValueError(f"rate limit {text!r} must look like 5/7d (count / number + s|m|h|d|w)")
    count, n, unit = int(m[1]), int(m[2] or 1), m[3]
    if count < 1 or n < 1:
        raise ValueError(f"rate limit {text!r} must have a positive count and window")
    return count, timedelta(seconds=n * _UNITS[unit])


def format_window(window: timedelta) -> str:
    s = int(window.total_seconds())
    for unit, n in (("days", 86400), ("hours", 3600), ("minutes", 60)):
        if s % n == 0 and s >= n:
            return f"{s // n} {unit}"
    return f"{s} seconds"


# --- duplicates, size ---------------------------------------------------------------------------
def check_not_duplicate(entries: list[QueueEntry], fingerprint: str, what: str) -> None:
    """Entries from before claim files existed: the same job still active (not REJECTED/FAILED)."""
    for e in entries:
        if e.status not in ("REJECTED", "FAILED") and e.fingerprint == fingerprint:
            _refuse(
                f"{what} with these settings is already in the queue as {e.id} ({e.status}); change the "
                "settings or the revision to submit again"
            )


def check_not_evaluated(existing_result: str | None, what: str) -> None:
    if existing_result:
        _refuse(
            f"{what} with these settings was already evaluated (result {existing_result}); see the leaderboard"
        )


def check_job(config: Any, source: str, datasets: tuple[str, ...], devices: tuple[str, ...]) -> None:
    """What a worker would refuse after approval, refused now: datasets the board does not offer,
    devices no worker has, a dataset with random weights (accuracy would mean nothing), extra settings."""
    if config.extra:
        _refuse("extra benchmark settings are not accepted in submissions")
    if config.dataset is not None and config.dataset not in datasets:
        offered = ", ".join(datasets) if datasets else "none"
        _refuse(f"dataset {config.dataset[:60]!r} is not offered on this board (offered: {offered}; or none)")
    if config.device not in devices:
        _refuse(f"device {config.device!r} is not available on this board's workers ({', '.join(devices)})")
    if source in RANDOM_WEIGHT_SOURCES and (config.dataset is not None or config.robustness):
        _refuse(
            f"{source} architectures are evaluated with random weights, so a dataset (accuracy, robustness) "
            "is meaningless; leave the dataset empty, or submit the Hub repo with trained weights"
        )
    if config.robustness and config.dataset is None:
        _refuse("robustness needs a dataset (top-1 under corruptions); pick one or turn robustness off")


def check_task(requested: Any, model_task: str, model: str, why: str) -> str:
    """The task to evaluate: the model's own; a requested task must be a known one and the same."""
    from harness.tasks import TASK_NAMES

    if requested in (None, ""):
        return model_task
    if not isinstance(requested, str) or requested not in TASK_NAMES:
        _refuse(f"unknown task {str(requested)[:40]!r}; choose one of {', '.join(TASK_NAMES)}")
    if requested != model_task:
        _refuse(
            f"{model} is a {model_task} model ({why}), not a {requested} model; pick the task "
            f"{model_task} or submit a {requested} model"
        )
    return requested


def check_params(params: int | None, max_params_m: float | None, model: str) -> None:
    if params is None or not max_params_m:
        return
    if params > max_params_m * 1e6:
        _refuse(
            f"{model} has {params / 1e6:.1f}M parameters, above this board's cap of {max_params_m:g}M "
            "(LEADERBOARD_MAX_PARAMS_M); submit a smaller model"
        )


def check_weight_files(files: list[str], where: str) -> None:
    """A single ``model.safetensors`` plus ``config.json`` (timm's or transformers' Hub layout); pickle-only
    is refused."""
    if WEIGHTS_NAME not in files:
        pickles = sorted(f for f in files if f.endswith(PICKLE_SUFFIXES))
        if pickles:
            _refuse(
                f"{where} has only pickle weights ({', '.join(pickles[:3])}); pickle is never loaded here. "
                f"Save {WEIGHTS_NAME} (timm push_to_hf_hub(..., safe_serialization=True), transformers "
                "save_pretrained(..., safe_serialization=True)) and submit again"
            )
        if any(f.endswith(".safetensors.index.json") for f in files):
            _refuse(f"{where} has sharded weights; a single {WEIGHTS_NAME} is required")
        _refuse(f"{where} has no {WEIGHTS_NAME}; upload the weights in timm's or transformers' Hub layout")
    if CONFIG_NAME not in files:
        _refuse(
            f"{where} has no {CONFIG_NAME}; timm's or transformers' Hub layout (config.json + "
            "model.safetensors) is required"
        )


def check_hub_info(
    info: Any, repo: str, max_download_mb: float | None = None, max_config_bytes: int | None = None
) -> str:
    """Check a ``huggingface_hub.ModelInfo``: resolved sha, safetensors + config.json, size. Returns the sha."""
    sha = getattr(info, "sha", None)
    if not sha or not re.fullmatch(r"[0-9a-f]{40}", str(sha)):
        _refuse(f"the Hub did not resolve {repo} to a commit sha; try again later")
    if getattr(info, "gated", False):
        _refuse(f"{repo} is gated; only public, ungated models can be evaluated")
    if getattr(info, "private", False):
        _refuse(f"{repo} is private; make it public to submit it")
    siblings = {s.rfilename: s for s in getattr(info, "siblings", None) or []}
    check_weight_files(list(siblings), f"{repo}@{sha[:12]}")
    size = getattr(siblings[WEIGHTS_NAME], "size", None)
    if max_download_mb and size and size / 2**20 > max_download_mb:
        _refuse(
            f"{repo}/{WEIGHTS_NAME} is {size / 2**20:.0f} MB, above the {max_download_mb:g} MB download cap"
        )
    config_size = getattr(siblings[CONFIG_NAME], "size", None)
    if max_config_bytes and isinstance(config_size, int) and config_size > max_config_bytes:
        _refuse(f"{repo}/{CONFIG_NAME} is larger than {max_config_bytes} bytes")
    return str(sha)
