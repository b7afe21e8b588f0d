"""Input-size scaling: batch-1 latency of one (backend, precision) at several square resolutions.

Each resolution gets its own Runner, prepared exactly like the main one but for (C, r, r): PyTorch runs
the same module on the new shape; ONNX-consuming backends build from a fixed-size export the parent made
for that resolution (one export per size, not one dynamic-H/W graph, so every size is optimised by the
runtime as a deployment at that size would be). The model's own resolution reuses the main Runner. A
size the model refuses (a ViT with a fixed patch grid) is a ``failed`` point with the model's reason;
int8 is measured at the native resolution only (its calibration images are at that size) and says so
for the others.

The points ride on the job's first run (``RunRecord.scaling``; the job's other runs leave it empty).
Each point is timed by :func:`harness.timing.measure` with the job's policy, so the same rules hold.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

from harness.errors import as_harness_error

INT8_REASON = "int8 is scaled at the native size only (its calibration images are at that size)"


def point(resolution: int, status: str, **fields: Any) -> dict[str, Any]:
    """One entry of a run's ``scaling`` list (the run says backend, device and precision)."""
    return {"resolution": int(resolution), "batch_size": 1, "status": status, **fields}


def timed_fields(m: Any) -> dict[str, Any]:
    """The compact figures a scaling point keeps of a Measurement (raw samples stay with the runs)."""
    lat = m.latency_ms
    return {
        "p50_ms": lat["p50"],
        "p90_ms": lat["p90"],
        "mean_ms": lat["mean"],
        "iterations": m.iterations,
        "stop_reason": m.stop_reason,
        "noisy": bool((m.noise or {}).get("noisy")),
    }


def measure_scaling(job: Any, request: Any, runner: Any, policy: Any) -> list[dict[str, Any]]:
    """Every resolution of ``job.input_sizes`` measured (or refused with its reason), in ascending order."""
    from harness.backends import BackendUnsupported, get_backend
    from harness.timing import measure, random_batch

    channels, native = int(request.input_size[0]), tuple(int(v) for v in request.input_size[1:])
    points = []
    for r in sorted({int(v) for v in job.input_sizes}):
        if job.precision == "int8" and (r, r) != native:
            points.append(point(r, "unsupported", error=INT8_REASON))
            continue
        size = (channels, r, r)
        try:
            if (r, r) == native:
                sized = runner
            else:
                export = None
                if request.onnx_export is not None:  # this child has no torch: use the parent's export
                    export = job.scaling_exports.get(str(r)) or {"error": "no export was made for it"}
                    if "error" in export:
                        raise RuntimeError(f"ONNX export at {r}x{r} failed: {export['error']}")
                sized = get_backend(job.backend).prepare(
                    replace(
                        request,
                        input_size=size,
                        onnx_export=export,
                        workdir=Path(request.workdir) / f"res{r}",
                    )
                )
            m = measure(sized, random_batch(1, size), policy, job.device)
            points.append(point(r, "ok", **timed_fields(m)))
        except BackendUnsupported as exc:
            points.append(point(r, "unsupported", error=str(exc)))
        except Exception as exc:  # noqa: BLE001 - one refused size must not lose the others
            points.append(point(r, "failed", error=str(as_harness_error(exc, f"at {r}x{r}"))))
    return points
