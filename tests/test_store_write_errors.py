"""A failed write (disk full, permission, read-only, the Hub refusing) is one clear StoreWriteError and
never damages what was stored before (issue 10 §2)."""

from __future__ import annotations

import errno
import os

import pytest

import store.local
from store.base import StoreError, StoreWriteError
from store.hub import HubAccessError, HubDatasetStore
from store.local import LocalDatasetStore
from tests._store_helpers import hub_server  # noqa: F401  (fixture)

OLD = {"key": "old", "n": 1}
NEW = {"key": "new", "n": 2}


@pytest.fixture
def st(tmp_path) -> LocalDatasetStore:
    s = LocalDatasetStore(tmp_path / "queue", "queue")
    s.write_json("entries/a.json", OLD)
    return s


def _fail(err: int):
    def raiser(*args, **kw):
        raise OSError(err, os.strerror(err))

    return raiser


def leftovers(st: LocalDatasetStore) -> list[str]:
    return sorted(p.name for p in (st.root / "entries").iterdir() if p.name != "a.json")


WRITES = {
    "write_json": lambda s: s.write_json("entries/a.json", NEW),
    "update_json": lambda s: s.update_json("entries/a.json", lambda cur: NEW),
    "create_json": lambda s: s.create_json("entries/b.json", NEW),
}


@pytest.mark.parametrize("write", sorted(WRITES))
@pytest.mark.parametrize(
    ("where", "err", "name"),
    [
        ("replace", errno.ENOSPC, "ENOSPC"),
        ("fsync", errno.ENOSPC, "ENOSPC"),
        ("mkstemp", errno.EACCES, "EACCES"),
        ("mkstemp", errno.EROFS, "EROFS"),
    ],
)
def test_local_write_failure_keeps_the_old_file_and_leaves_no_temp(st, monkeypatch, write, where, err, name):
    target = {"replace": (store.local.os, "replace"), "fsync": (store.local.os, "fsync")}
    module, attr = target.get(where, (store.local.tempfile, "mkstemp"))
    monkeypatch.setattr(module, attr, _fail(err))
    with pytest.raises(StoreWriteError) as info:
        WRITES[write](st)
    message = str(info.value)
    assert name in message and "queue/entries/" in message and "\n" not in message
    monkeypatch.undo()
    assert st.read_json("entries/a.json") == OLD
    assert st.read_json("entries/b.json") is None
    assert leftovers(st) == []


def test_partial_write_then_disk_full_keeps_the_old_file(st, monkeypatch):
    """The temp file gets half the bytes, then ENOSPC: the target is untouched, the temp removed."""
    real_fdopen = os.fdopen

    class HalfFull:
        def __init__(self, fh):
            self.fh = fh

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            self.fh.close()

        def write(self, data):
            self.fh.write(data[: len(data) // 2])
            raise OSError(errno.ENOSPC, "No space left on device")

        def __getattr__(self, name):
            return getattr(self.fh, name)

    monkeypatch.setattr(store.local.os, "fdopen", lambda fd, *a, **k: HalfFull(real_fdopen(fd, *a, **k)))
    with pytest.raises(StoreWriteError, match="No space left"):
        st.write_json("entries/a.json", {"key": "x" * 10_000})
    monkeypatch.undo()
    assert st.read_json("entries/a.json") == OLD and leftovers(st) == []


def test_read_only_lock_folder_is_a_write_error(st, monkeypatch):
    def refuse(self, path):
        raise OSError(errno.EROFS, "Read-only file system")

    monkeypatch.setattr(LocalDatasetStore, "_lock", refuse)
    for write in WRITES.values():
        with pytest.raises(StoreWriteError, match="EROFS"):
            write(st)
    with pytest.raises(StoreWriteError, match="cannot lock"):
        st.delete("entries/a.json")
    monkeypatch.undo()
    assert st.read_json("entries/a.json") == OLD


def test_dataset_folder_that_cannot_be_created_is_a_write_error(tmp_path):
    (tmp_path / "file").write_text("not a folder")
    with pytest.raises(StoreWriteError, match="cannot create the results dataset folder .*ENOTDIR"):
        LocalDatasetStore(tmp_path / "file" / "results", "results")


def test_updater_errors_are_not_disguised_as_write_errors(st):
    def updater(cur):
        raise OSError(errno.ENOENT, "the caller's own error")

    with pytest.raises(OSError, match="the caller's own error") as info:
        st.update_json("entries/a.json", updater)
    assert not isinstance(info.value, StoreError)


# --- the Hub ----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("status", "says"), [(507, "HTTP 507"), (403, "HTTP 403, check HF_TOKEN"), (500, "HTTP 500")]
)
def test_hub_refused_commit_is_a_write_error_and_changes_nothing(hub_server, status, says):  # noqa: F811
    st = HubDatasetStore("org/queue", name="queue")
    st.write_json("entries/a.json", OLD)
    head = hub_server.head("org/queue")
    for write in WRITES.values():
        hub_server.fail_next_commits(1, status)
        with pytest.raises(StoreWriteError) as info:
            write(st)
        assert isinstance(info.value, HubAccessError)
        assert says in str(info.value) and "org/queue" in str(info.value) and "\n" not in str(info.value)
    assert hub_server.head("org/queue") == head
    assert st.read_json("entries/a.json") == OLD


def test_hub_offline_mode_says_why(hub_server, monkeypatch):  # noqa: F811
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    with pytest.raises(HubAccessError, match="HF_HUB_OFFLINE is set"):
        HubDatasetStore("org/results", name="results")
