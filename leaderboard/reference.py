"""timm's *published* ImageNet figures, kept apart from anything measured here.

``leaderboard/data/timm_reported_top1.csv`` is a small subset of timm's ``results-imagenet.csv``: one row per
architecture (the default pretrained tag of that arch in timm's registry, else its best-listed tag).
It is only ever shown in the column labelled "Reported top-1 (timm)", never as a measured number.
Regenerate it with ``python -m leaderboard.reference /path/to/results-imagenet.csv``.
"""

from __future__ import annotations

import csv
import sys
from functools import cache
from pathlib import Path

DATA_FILE = Path(__file__).with_name("data") / "timm_reported_top1.csv"
FIELDS = ("model", "top1", "top5", "img_size", "param_count")


@cache
def load_reference(path: str | None = None) -> dict[str, dict[str, float]]:
    """``{arch: {top1, top5, img_size, param_count}}`` from the shipped CSV (empty if it is missing)."""
    p = Path(path) if path else DATA_FILE
    out: dict[str, dict[str, float]] = {}
    try:
        with p.open(newline="") as fh:
            for row in csv.DictReader(fh):
                try:
                    out[row["model"]] = {k: float(row[k]) for k in FIELDS[1:] if row.get(k)}
                except ValueError:
                    continue
    except OSError:
        return {}
    return out


def reported_top1_by_arch() -> dict[str, float]:
    return {arch: v["top1"] for arch, v in load_reference().items() if "top1" in v}


def select_default_tags(rows: list[dict[str, str]], tag_order: dict[str, list[str]]) -> list[dict[str, str]]:
    """One row per arch: the registry's default tag if listed, else the earliest tag in registry order.

    ``rows`` have ``model`` = ``arch.tag`` (or a bare arch); ``tag_order`` maps arch -> tags, default first.
    Archs unknown to the registry are dropped.
    """
    by_arch: dict[str, dict[str, dict[str, str]]] = {}
    for row in rows:
        arch, _, tag = row["model"].partition(".")
        if arch in tag_order:
            by_arch.setdefault(arch, {}).setdefault(tag, row)
    chosen = []
    for arch in sorted(by_arch):
        tags = by_arch[arch]
        order = tag_order[arch] + [""]
        pick = next((tags[t] for t in order if t in tags), None)
        if pick is None:
            pick = tags[sorted(tags)[0]]
        chosen.append({**{k: pick.get(k, "") for k in FIELDS}, "model": arch})
    return chosen


def _timm_tag_order() -> dict[str, list[str]]:
    import timm
    from timm.models import get_arch_pretrained_cfgs

    order: dict[str, list[str]] = {}
    for arch in timm.list_models():  # "arch.tag" names, the default tag first
        order[arch] = [
            name.split(".", 1)[1] if "." in name else "" for name in get_arch_pretrained_cfgs(arch)
        ]
    return order


def build_subset(source_csv: str | Path, dest: str | Path = DATA_FILE) -> int:
    """Write the per-arch subset of timm's results CSV; returns the number of rows written."""
    with open(source_csv, newline="") as fh:
        rows = list(csv.DictReader(fh))
    chosen = select_default_tags(rows, _timm_tag_order())
    Path(dest).parent.mkdir(parents=True, exist_ok=True)
    with open(dest, "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=list(FIELDS))
        w.writeheader()
        w.writerows(chosen)
    return len(chosen)


def main(argv: list[str]) -> int:
    """``python -m leaderboard.reference RESULTS_CSV``: regenerate the shipped subset from timm's CSV."""
    if len(argv) != 1 or not Path(argv[0]).is_file():
        print("usage: python -m leaderboard.reference PATH/TO/results-imagenet.csv", file=sys.stderr)
        return 2
    print(f"wrote {build_subset(argv[0])} architectures to {DATA_FILE}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
