"""The real app (``python app.py`` in a subprocess) under hostile requests: nothing a form or a shared URL
carries may stall the server for other visitors (issue 10 §1), and locally it listens on loopback (§4).

Talks raw HTTP to Gradio's REST API (``/gradio_api/call/<api_name>``): the named ``filter`` endpoint takes
the filter fields by name, exactly as the browser's controls send them.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import time
import urllib.parse
import urllib.request
from pathlib import Path

import pytest

from store import LocalDatasetStore, layout
from tests._leaderboard_helpers import make_record, make_run
from tests.e2e._app import ROOT, running_app

HOSTILE_REGEX = "(.|.)*(?=!)"  # catastrophic backtracking for a backtracking engine on any long cell
N_RECORDS = 300
FAST_S = 1.0


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _plant_records(data_dir: Path) -> None:
    results = LocalDatasetStore(data_dir / "results", "results")
    LocalDatasetStore(data_dir / "queue", "queue")
    for i in range(N_RECORDS):
        name = f"resnet{i:03d}-{'x' * (i % 40)}"  # long cells: what makes a backtracking regex explode
        rec = make_record(
            model=name, runs=[make_run(bs=1, p50=1.0 + i % 17), make_run("onnxruntime", bs=1, p50=2.0)]
        )
        results.write_json(layout.record_path(rec["key"]), rec)


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    base = tmp_path_factory.mktemp("app-server")
    _plant_records(base / "data")
    log_path = base / "app.log"
    # no GRADIO_SERVER_NAME: the default listen address is what §4 is about
    with running_app(base / "data", log_path, GRADIO_SERVER_NAME=None, LEADERBOARD_WORKER="0") as url:
        yield url, log_path


def _parameters(url: str, api_name: str) -> list[dict]:
    info = json.loads(urllib.request.urlopen(url + "gradio_api/info", timeout=10).read())
    endpoint = info["named_endpoints"].get(f"/{api_name}")
    return [] if endpoint is None else endpoint["parameters"]  # undocumented (the page's own load): none


def call(
    url: str, api_name: str, query: str = "", timeout: float = 60, data: list | None = None, **values
) -> list:
    """Call a named endpoint with its parameters by name (defaults for the rest), or with ``data`` as
    the page sends it (an undocumented endpoint lists no parameters); the output list."""
    params = _parameters(url, api_name)
    unknown = set(values) - {p["parameter_name"] for p in params}
    assert not unknown, f"/{api_name} has no parameters {unknown}"
    if data is None:
        data = [values.get(p["parameter_name"], p.get("parameter_default")) for p in params]
    req = urllib.request.Request(
        f"{url}gradio_api/call/{api_name}{query}",
        data=json.dumps({"data": data}).encode(),
        headers={"Content-Type": "application/json"},
    )
    event_id = json.loads(urllib.request.urlopen(req, timeout=timeout).read())["event_id"]
    with urllib.request.urlopen(f"{url}gradio_api/call/{api_name}/{event_id}", timeout=timeout) as resp:
        event = None
        for raw in resp:
            line = raw.decode().strip()
            if line.startswith("event:"):
                event = line.split(":", 1)[1].strip()
            elif line.startswith("data:") and event in ("complete", "error"):
                payload = line.split(":", 1)[1].strip()
                assert event == "complete", f"/{api_name} failed: {payload[:500]}"
                return json.loads(payload)
    raise AssertionError(f"/{api_name}: the stream ended without a result")


def _status_of(outputs: list) -> str:
    """The status Markdown among a filter call's outputs (the one that says 'Showing' or a problem)."""
    texts = [o for o in outputs if isinstance(o, str)]
    return next(
        (t for t in texts if "Showing" in t or "problem" in t.lower() or "rows" in t), " ".join(texts)
    )


def timed(fn, *args, **kwargs) -> tuple[float, object]:
    t0 = time.perf_counter()
    out = fn(*args, **kwargs)
    return time.perf_counter() - t0, out


def timed_or_inf(fn, *args, **kwargs) -> tuple[float, object]:
    """(seconds, result); a request that times out or fails counts as taking forever."""
    try:
        return timed(fn, *args, **kwargs)
    except OSError as exc:
        return float("inf"), exc


def test_the_filter_endpoint_takes_fields_by_name_and_filters(server):
    url, _ = server
    status = _status_of(call(url, "filter", search="resnet007-"))
    assert f"of **2** rows ({2 * N_RECORDS} in total)" in status  # one record, one row per backend
    status = _status_of(call(url, "filter", search="resnet007-", backend=["onnxruntime"]))
    assert "of **1** rows" in status


def test_hostile_searches_do_not_stall_other_visitors(server):
    url, _ = server
    hostile = [
        {"search": HOSTILE_REGEX, "regex": True},
        {"search": "resnet" + "a" * 100_000, "regex": False},  # 100 KB of plain text
        {"search": "(" * 50_000 + "a" + ")" * 50_000, "regex": True},
    ]
    results: dict[int, tuple[float, object]] = {}

    def attack(i: int, values: dict) -> None:
        try:
            results[i] = timed(call, url, "filter", timeout=120, **values)
        except Exception as exc:  # noqa: BLE001 - reported by the assertions below
            results[i] = (float("inf"), exc)

    threads = [threading.Thread(target=attack, args=(i, v), daemon=True) for i, v in enumerate(hostile)]
    for t in threads:
        t.start()
    time.sleep(0.3)  # the hostile requests are in flight
    config_s, _ = timed_or_inf(lambda: urllib.request.urlopen(url + "config", timeout=10).read())
    filter_s, outputs = timed_or_inf(call, url, "filter", timeout=10, search="resnet1")
    assert config_s < FAST_S, f"/config took {config_s:.2f} s while hostile searches ran"
    assert filter_s < FAST_S, f"a plain filter call took {filter_s:.2f} s while hostile searches ran"
    assert "Showing" in _status_of(outputs)
    for t in threads:
        t.join(120)
    for i, (elapsed, out) in sorted(results.items()):
        assert not isinstance(out, Exception), f"hostile search {i} failed: {out}"
        assert elapsed < 10, f"hostile search {i} took {elapsed:.1f} s"
        assert "Showing" in _status_of(out)  # answered: rows, or a one-line refusal above them


def test_a_shared_url_with_a_hostile_regex_loads_promptly(server):
    url, _ = server
    query = "?" + urllib.parse.urlencode({"q": HOSTILE_REGEX, "re": "1"})
    # the page's load sends the stamp of the data its config showed (lb-shown); "" = none
    elapsed, outputs = timed(call, url, "on_load", query=query, timeout=60, data=[""])
    assert elapsed < 5, f"loading the shared URL took {elapsed:.1f} s"
    assert HOSTILE_REGEX in outputs  # the search box is filled from the URL...
    assert "Showing" in _status_of(outputs)  # ...and the board answered


def test_listens_on_loopback_by_default(server):
    url, log_path = server
    port = urllib.parse.urlparse(url).port
    assert f"http://127.0.0.1:{port}" in log_path.read_text()


@pytest.mark.parametrize(
    ("env", "named"),
    [({"GRADIO_SERVER_PORT": "80x"}, "GRADIO_SERVER_PORT"), ({"RESULTS_REPO": "org/results"}, "QUEUE_REPO")],
)
def test_a_bad_setting_stops_the_app_with_one_line(tmp_path, env, named):
    full = {**os.environ, "LEADERBOARD_DATA_DIR": str(tmp_path), "LEADERBOARD_WORKER": "0", **env}
    proc = subprocess.run(
        [sys.executable, "app.py"], cwd=ROOT, env=full, capture_output=True, text=True, timeout=120
    )
    assert proc.returncode != 0
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith("app.py: ") and named in last and "Traceback" not in proc.stderr


# --- the documented read API, through the real gradio_client ----------------------------------------------
@pytest.fixture(scope="module")
def client(server):
    from gradio_client import Client

    return Client(server[0], verbose=False)


def test_query_endpoint_takes_the_url_keys_and_returns_records(client):
    view = client.predict(q="resnet007-", backend="onnxruntime", api_name="/query")
    assert (
        view["matched"] == 1 and view["total"] == 2 * N_RECORDS and view["query"].startswith("q=resnet007-")
    )
    (row,) = view["rows"]
    assert row["backend"] == "onnxruntime" and row["model"].startswith("resnet007-")
    assert isinstance(row["latency_p50_ms"], float) and row["key"]  # raw numbers, the record's key
    both = client.predict(q="resnet007-", backend="onnxruntime,pytorch", api_name="/query")
    assert both["matched"] == 2 and {r["backend"] for r in both["rows"]} == {"onnxruntime", "pytorch"}
    ranged = client.predict(lmax="1.5", backend="pytorch", sort="latency_p50_ms", api_name="/query")
    assert ranged["rows"] and all(r["latency_p50_ms"] <= 1.5 for r in ranged["rows"])


def test_query_pages_are_bounded_and_bad_input_is_one_line(client):
    from gradio_client.exceptions import AppError

    big = client.predict(page_size=10**9, page=-5, api_name="/query")
    assert big["page_size"] == 1000 and big["page"] == 1 and len(big["rows"]) == 600
    last = client.predict(page_size=250, page=99, api_name="/query")
    assert last["page"] == last["pages"] == 3 and len(last["rows"]) == 100
    with pytest.raises(AppError, match="invalid regular expression"):
        client.predict(q="(", re="1", api_name="/query")
    unknown = client.predict(family="<script>", sort="nope", api_name="/query")
    assert unknown["matched"] == 0 and unknown["rows"] == []


def test_record_endpoint_returns_one_record_by_key(client):
    row = client.predict(q="resnet003-", backend="pytorch", api_name="/query")["rows"][0]
    rec = client.predict(key=row["key"], api_name="/record")
    assert rec["key"] == row["key"] and rec["model"]["id"] == row["model"] and rec["runs"]
    from gradio_client.exceptions import AppError

    for bad, why in (("../../etc/passwd", "invalid result key"), ("0" * 16, "no record")):
        with pytest.raises(AppError, match=why):
            client.predict(key=bad, api_name="/record")


def test_only_the_read_api_and_the_filter_are_documented(client):
    named = set(client.view_api(return_format="dict", print_info=False)["named_endpoints"])
    assert {"/query", "/record", "/filter"} <= named
    hidden = {
        "/on_load",
        "/on_plot",
        "/plot",
        "/on_list",
        "/on_approve",
        "/on_reject",
        "/on_open",
        "/on_pick",
    }
    assert not {n for n in named if n.split("_1")[0].split("_2")[0] in hidden}, named  # helpers are hidden
