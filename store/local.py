"""LocalStore: the embedded default, a data directory laid out like the Hub dataset repos."""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path

from filelock import FileLock

from store.base import DatasetStore, JsonDict, Updater, clean_path, dump_json, parse_json

LOCK_DIR = ".locks"
LOCK_TIMEOUT_S = 60


class LocalDatasetStore(DatasetStore):
    """One dataset folder on local disk.

    Writes go to a temp file in the same folder and are moved into place with ``os.replace``, so a
    reader sees the old or the new file, never a torn one. A compare-and-swap holds a per-file lock
    (``.locks/`` inside the dataset, skipped by listings), which also serialises processes.
    """

    def __init__(self, root: str | os.PathLike, name: str):
        super().__init__()
        self.root = Path(root)
        self.name = name
        self.root.mkdir(parents=True, exist_ok=True)

    def _abs(self, path: str) -> Path:
        return self.root / clean_path(path)

    def _lock(self, path: str) -> FileLock:
        digest = hashlib.sha1(clean_path(path).encode()).hexdigest()
        lock_dir = self.root / LOCK_DIR
        lock_dir.mkdir(exist_ok=True)
        return FileLock(str(lock_dir / f"{digest}.lock"), timeout=LOCK_TIMEOUT_S)

    def list_files(self, prefix: str = "") -> list[str]:
        base = self._abs(prefix) if prefix else self.root
        if not base.is_dir():
            return []
        out = []
        for dirpath, dirnames, filenames in os.walk(base):
            dirnames[:] = [d for d in dirnames if not d.startswith(".")]
            for fname in filenames:
                if fname.startswith("."):
                    continue
                out.append(Path(dirpath, fname).relative_to(self.root).as_posix())
        return sorted(out)

    def read_bytes(self, path: str) -> bytes | None:
        try:
            return self._abs(path).read_bytes()
        except FileNotFoundError:
            return None
        except IsADirectoryError:
            return None

    def _replace(self, path: str, data: bytes) -> None:
        target = self._abs(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".tmp-", suffix=target.suffix)
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    def write_bytes(self, path: str, data: bytes, message: str = "") -> None:
        with self._lock(path):
            self._replace(path, data)

    def update_json(
        self, path: str, updater: Updater, message: str = "", attempts: int = 20
    ) -> JsonDict | None:
        with self._lock(path):
            raw = self.read_bytes(path)
            current = None if raw is None else parse_json(path, raw)
            new = updater(current)
            if new is None:
                return current
            self._replace(path, dump_json(new))
            return new

    def delete(self, path: str, message: str = "") -> None:
        with self._lock(path):
            self._abs(path).unlink(missing_ok=True)
