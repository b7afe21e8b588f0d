"""No stored file can take a reader down: hostile names and contents in a local dataset are reported and
skipped (never opened, followed or hung on) while every good file still loads (issue 10 §2)."""

from __future__ import annotations

import errno
import json
import os
import stat
import threading

import pytest

import store.local
from harness.record import check_record_dict
from store.base import MAX_JSON_BYTES, CorruptFileError, InvalidPathError, UnreadableFileError
from store.local import LocalDatasetStore
from store.schema import SchemaError, expect_slug, field_of
from store.table import rebuild_results_table
from tests._leaderboard_helpers import make_record
from tests._store_helpers import hub_server  # noqa: F401  (fixture)

GOOD = {"key": "good"}


def keyed(d: dict) -> dict:
    field_of(d, "key", "", expect_slug)
    return d


def loaded(st: LocalDatasetStore, prefix: str = "records", validate=keyed, timeout: float = 10.0) -> list:
    """iter_json in a thread with a deadline: a reader that blocks (e.g. on a FIFO) fails the test."""
    out: list = []
    error: list[BaseException] = []

    def walk() -> None:
        try:
            out.extend(p for p, _ in st.iter_json(prefix, validate=validate))
        except BaseException as exc:  # noqa: BLE001 - re-raised in the test thread
            error.append(exc)

    worker = threading.Thread(target=walk, daemon=True)
    worker.start()
    worker.join(timeout)
    assert not worker.is_alive(), "iter_json hung"
    if error:
        raise error[0]
    return out


@pytest.fixture
def st(tmp_path) -> LocalDatasetStore:
    s = LocalDatasetStore(tmp_path / "results", "results")
    s.write_json("records/good.json", GOOD)
    return s


def test_fifo_named_json_is_reported_not_opened(st):
    fifo = st.root / "records" / "fifo.json"
    os.mkfifo(fifo)
    assert loaded(st) == ["records/good.json"]
    assert "FIFO" in st.problems["records/fifo.json"].reason
    with pytest.raises(UnreadableFileError, match="FIFO"):
        st.read_json("records/fifo.json")
    assert st.exists("records/fifo.json")
    with pytest.raises(CorruptFileError):  # a CAS never replaces it
        st.update_json("records/fifo.json", lambda cur: {"x": 1})
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode)


def test_fifo_swapped_in_after_the_check_does_not_hang(st, monkeypatch):
    """Race: the name is a regular file at lstat time and a FIFO at open time (O_NONBLOCK + fstat)."""
    target = st.root / "records" / "race.json"
    target.write_text("{}")
    real_open = os.open

    def swap_then_open(path, flags, *args):
        if str(path).endswith("race.json") and not stat.S_ISFIFO(os.lstat(path).st_mode):
            os.unlink(path)
            os.mkfifo(path)
        return real_open(path, flags, *args)

    monkeypatch.setattr(store.local.os, "open", swap_then_open)
    assert loaded(st) == ["records/good.json"]
    assert "FIFO" in st.problems["records/race.json"].reason


def test_symlinks_are_never_followed(st, tmp_path):
    outside = tmp_path / "secret.json"
    outside.write_text(json.dumps({"key": "stolen"}))
    rec = st.root / "records"
    os.symlink(outside, rec / "out.json")  # points outside the dataset
    os.symlink(rec / "good.json", rec / "inside.json")  # even inside: a dataset never holds links
    os.symlink(rec / "missing.json", rec / "dangling.json")
    os.symlink(rec / "loop_a.json", rec / "loop_b.json")
    os.symlink(rec / "loop_b.json", rec / "loop_a.json")
    assert loaded(st) == ["records/good.json"]
    for name in ("out", "inside", "dangling", "loop_a", "loop_b"):
        assert "symbolic link" in st.problems[f"records/{name}.json"].reason, name
    with pytest.raises(UnreadableFileError, match="symbolic link"):
        st.read_bytes("records/out.json")
    assert outside.read_text() == json.dumps({"key": "stolen"})


def test_symlinked_folder_out_of_the_dataset_is_not_walked_or_read(st, tmp_path):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "x.json").write_text(json.dumps({"key": "x"}))
    os.symlink(elsewhere, st.root / "records" / "linked")
    os.symlink(elsewhere, st.root / "records2")
    assert loaded(st) == ["records/good.json"]
    assert not any("x.json" in p for p in st.list_files())  # the linked folder is never walked
    with pytest.raises(UnreadableFileError, match="out of the dataset"):
        st.read_bytes("records2/x.json")
    for write in (
        lambda: st.write_json("records2/y.json", {"key": "y"}),
        lambda: st.write_json("records2/new/sub/y.json", {"key": "y"}),  # folders not there yet
        lambda: st.update_json("records2/x.json", lambda cur: {"key": "overwritten"}),
        lambda: st.delete("records2/x.json"),
    ):
        with pytest.raises(InvalidPathError, match="leaves the dataset"):
            write()
    assert sorted(p.name for p in elsewhere.iterdir()) == ["x.json"]
    assert json.loads((elsewhere / "x.json").read_text()) == {"key": "x"}


def test_device_file_is_reported_not_opened(st):
    dev = st.root / "records" / "zero.json"
    try:
        os.mknod(dev, stat.S_IFCHR | 0o600, os.makedev(1, 5))  # /dev/zero: reading it never ends
    except (PermissionError, OSError) as exc:
        pytest.skip(f"cannot create a device node here: {exc}")
    assert loaded(st) == ["records/good.json"]
    assert "character device" in st.problems["records/zero.json"].reason


def test_deep_nesting_is_reported(st):
    (st.root / "records" / "deep.json").write_bytes(b"[" * 200_000 + b"]" * 200_000)
    (st.root / "records" / "deep_obj.json").write_bytes(b'{"a":' * 100_000 + b"1" + b"}" * 100_000)
    nested: dict = {"key": "k"}
    inner = nested
    for _ in range(80):  # parses fine, but deeper than any record is: refused before a recursive reader
        inner["x"] = {}
        inner = inner["x"]
    st.write_json("records/deep80.json", nested)
    assert loaded(st) == ["records/good.json"]
    assert {"records/deep.json", "records/deep_obj.json", "records/deep80.json"} <= set(st.problems)
    assert "nested" in st.problems["records/deep80.json"].reason


def test_huge_file_is_refused(st):
    huge = st.root / "records" / "huge.json"
    with open(huge, "wb") as fh:  # sparse: 17 MiB on paper, nothing on disk
        fh.truncate(MAX_JSON_BYTES + 1024 * 1024)
    assert loaded(st) == ["records/good.json"]
    assert "too large" in st.problems["records/huge.json"].reason
    assert st.read_bytes("records/huge.json", None) is not None  # an explicit read without a cap still works


def test_unreadable_file_is_reported(st, monkeypatch):
    (st.root / "records" / "locked.json").write_text(json.dumps({"key": "locked"}))
    real_open = os.open

    def deny(path, flags, *args):
        if str(path).endswith("locked.json"):
            raise PermissionError(errno.EACCES, "Permission denied", str(path))
        return real_open(path, flags, *args)

    monkeypatch.setattr(store.local.os, "open", deny)  # tests run as root, which chmod 000 cannot stop
    assert loaded(st) == ["records/good.json"]
    assert "EACCES" in st.problems["records/locked.json"].reason


def test_unlistable_folder_is_reported_and_the_rest_listed(st, monkeypatch):
    (st.root / "records" / "sub").mkdir()
    (st.root / "records" / "sub" / "a.json").write_text("{}")
    real_scandir = os.scandir

    def deny(path):
        if str(path).endswith("sub"):
            raise PermissionError(errno.EACCES, "Permission denied", str(path))
        return real_scandir(path)

    monkeypatch.setattr(store.local.os, "scandir", deny)
    assert loaded(st) == ["records/good.json"]
    assert "cannot list" in st.problems["records/sub"].reason
    monkeypatch.undo()  # readable again: listed, and no longer a problem
    assert loaded(st, validate=None) == ["records/good.json", "records/sub/a.json"]
    assert "records/sub" not in st.problems


def test_file_names_no_dataset_can_hold_are_reported_on_their_folder(st):
    rec = os.fsencode(st.root / "records")
    with open(rec + b"/\xff\xfe.json", "wb") as fh:  # not UTF-8: pyarrow and the Hub cannot hold it
        fh.write(b'{"key": "bad"}')
    with open(rec + b"/new\nline.json", "wb") as fh:
        fh.write(b'{"key": "nl"}')
    assert loaded(st) == ["records/good.json"]
    assert "skipped 2 name(s)" in st.problems["records"].reason
    assert "\n" not in st.problems["records"].reason
    st.write_json("records/rec.json", make_record(key="rec"))  # and the table builds around them
    assert rebuild_results_table(st, validate=check_record_dict)["key"].tolist() == ["rec"]
    os.unlink(rec + b"/\xff\xfe.json")
    os.unlink(rec + b"/new\nline.json")
    loaded(st)
    assert "records" not in st.problems


def test_invalid_records_are_reported_with_the_schema_reason(st):
    st.write_json("records/nokey.json", {"model": "x"})
    st.write_json("records/badkey.json", {"key": "../x"})
    assert loaded(st) == ["records/good.json"]
    assert st.problems["records/nokey.json"].reason.startswith("invalid: key: expected a slug")
    assert "\n" not in st.problems["records/badkey.json"].reason
    st.write_json("records/nokey.json", {"key": "fixed"})  # repaired: loads, no longer a problem
    assert loaded(st) == ["records/good.json", "records/nokey.json"]
    assert "records/nokey.json" not in st.problems


def test_a_validator_that_crashes_on_hostile_data_is_a_problem_not_a_crash(st):
    st.write_json("records/weird.json", {"key": 5})

    def fragile(d):
        return d["key"].lower()  # AttributeError on an int

    assert loaded(st, validate=fragile) == ["records/good.json"]
    assert "AttributeError" in st.problems["records/weird.json"].reason


def test_everything_at_once_the_good_files_still_load(st, tmp_path):
    rec = st.root / "records"
    os.mkfifo(rec / "f.json")
    os.symlink(rec / "l.json", rec / "l.json")
    (rec / "t.json").write_bytes(b'{"key": "t"')
    (rec / "n.json").write_bytes(b"[" * 50_000)
    (rec / "u.json").write_bytes(b"\xff\xfe")
    st.write_json("records/bad.json", {"key": None})
    for i in range(20):
        st.write_json(f"records/ok{i:02d}.json", {"key": f"ok{i}"})
    assert len(loaded(st)) == 21
    assert {f"records/{n}.json" for n in "fltnu"} | {"records/bad.json"} <= set(st.problems)


def test_schema_error_is_a_store_error_and_value_error():
    from store import StoreError

    err = SchemaError("runs[0].x", "expected a string, got 3")
    assert isinstance(err, StoreError) and isinstance(err, ValueError)
    assert str(err) == "runs[0].x: expected a string, got 3" and err.field == "runs[0].x"


# --- the same hostile contents on the Hub ------------------------------------------------------
def test_hub_huge_deep_and_invalid_files_are_reported_and_the_rest_load(hub_server):  # noqa: F811
    from store.hub import HubDatasetStore

    hub_server.create_repo("org/results", repo_type="dataset")
    hub_server.commit_files(
        "org/results",
        {
            "records/good.json": json.dumps(GOOD).encode(),
            "records/huge.json": b'{"key": "' + b"x" * (MAX_JSON_BYTES + 10) + b'"}',
            "records/deep.json": b"[" * 100_000,
            "records/bad.json": json.dumps({"key": "a b"}).encode(),
        },
    )
    hub = HubDatasetStore("org/results", name="results")
    assert [p for p, _ in hub.iter_json("records", validate=keyed)] == ["records/good.json"]
    assert "too large" in hub.problems["records/huge.json"].reason
    assert "nested" in hub.problems["records/deep.json"].reason
    assert hub.problems["records/bad.json"].reason.startswith("invalid: key: expected a slug")
    with pytest.raises(UnreadableFileError, match="too large"):
        hub.read_json("records/huge.json")
    assert len(hub.read_bytes("records/huge.json")) > MAX_JSON_BYTES  # uncapped reads (the table) still work


def test_readers_on_many_threads_while_files_break_and_heal(st):
    """The app's UI threads and its worker share one store (and its ``problems``): no reader may fail
    with 'dictionary changed size during iteration' or a KeyError while others report and forget."""
    from leaderboard.cache import LeaderboardCache

    for i in range(30):
        st.write_bytes(f"records/r{i:02d}.json", b"{broken" if i % 2 else b'{"key": "r"}')
    stop = threading.Event()
    errors: list[BaseException] = []

    def churn() -> None:
        n = 0
        while not stop.is_set():
            n += 1
            st.write_bytes(f"records/r{n % 30:02d}.json", b"{broken" if n % 3 else b'{"key": "r"}')
            if n % 7 == 0:
                st.delete(f"records/r{n % 30:02d}.json")

    def read() -> None:
        cache = LeaderboardCache(st, check_every_s=0)
        try:
            for _ in range(20):
                list(st.iter_json("records", validate=keyed))
                rebuild_results_table(st, validate=keyed)
                cache.get(force=True)
        except BaseException as exc:  # noqa: BLE001 - collected and asserted below
            errors.append(exc)

    writer = threading.Thread(target=churn, daemon=True)
    readers = [threading.Thread(target=read, daemon=True) for _ in range(4)]
    writer.start()
    for t in readers:
        t.start()
    for t in readers:
        t.join(120)
    stop.set()
    writer.join(10)
    assert not errors, repr(errors[0])
