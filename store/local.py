"""LocalStore: the embedded default, a data directory laid out like the Hub dataset repos."""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import stat
import tempfile
from collections.abc import Iterator
from pathlib import Path

from filelock import FileLock

from store.base import (
    DatasetStore,
    InvalidPathError,
    JsonDict,
    StoreWriteError,
    UnreadableFileError,
    Updater,
    clean_path,
    dump_json,
)

LOCK_DIR = ".locks"
LOCK_TIMEOUT_S = 60
READ_CHUNK = 1024 * 1024
_OPEN_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0)
_KINDS = {
    stat.S_IFIFO: "a FIFO",
    stat.S_IFCHR: "a character device",
    stat.S_IFBLK: "a block device",
    stat.S_IFSOCK: "a socket",
    stat.S_IFLNK: "a symbolic link (never followed)",
    stat.S_IFDIR: "a directory",
}


def _kind(mode: int) -> str:
    return _KINDS.get(stat.S_IFMT(mode), "not a regular file")


def _plain_name(name: str) -> bool:
    """A name a dataset path can hold: valid UTF-8 (no surrogate escapes) and no control characters."""
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return not any(ord(c) < 0x20 or ord(c) == 0x7F for c in name)


def _os_reason(exc: OSError) -> str:
    name = errno.errorcode.get(exc.errno or 0, "OSError")
    return f"{exc.strerror or exc} ({name})"


class LocalDatasetStore(DatasetStore):
    """One dataset folder on local disk.

    Writes go to a temp file in the same folder and are moved into place with ``os.replace``, so a
    reader sees the old or the new file, never a torn one. A compare-and-swap holds a per-file lock
    (``.locks/`` inside the dataset, skipped by listings), which also serialises processes.

    Reads trust nothing they find: listings do not follow symlinks, and a name that is not a regular file
    (FIFO, device, socket, symlink) is reported by :meth:`read_bytes` from ``lstat`` without being opened;
    regular files are opened ``O_NOFOLLOW | O_NONBLOCK`` and re-checked with ``fstat`` (a swap in between
    cannot make a read hang or follow a link).
    """

    def __init__(self, root: str | os.PathLike, name: str):
        super().__init__()
        self.root = Path(root).resolve()
        self.name = name
        try:
            self.root.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreWriteError(
                f"cannot create the {name} dataset folder {self.root}: {_os_reason(exc)}"
            ) from None

    def _abs(self, path: str) -> Path:
        return self.root / clean_path(path)

    def _target(self, path: str) -> Path:
        """Where a write or delete of ``path`` lands; refused if a folder on the way is a symlink that
        leads out of the dataset (the write would land elsewhere)."""
        target = self._abs(path)
        if not self._inside_root(target.parent):
            raise InvalidPathError(f"path leaves the dataset through a symlinked folder: {path!r}")
        return target

    def _lock(self, path: str) -> FileLock:
        digest = hashlib.sha1(clean_path(path).encode()).hexdigest()
        lock_dir = self.root / LOCK_DIR
        lock_dir.mkdir(exist_ok=True)
        return FileLock(str(lock_dir / f"{digest}.lock"), timeout=LOCK_TIMEOUT_S)

    def list_files(self, prefix: str = "") -> list[str]:
        """Every non-hidden name that is not a real directory (symlinks and special files included, so a
        reader reports them); symlinked directories are listed, never descended. Names no dataset path
        can have (not UTF-8, control characters) are reported on their folder and left out."""
        base = self._abs(prefix) if prefix else self.root
        try:
            if not stat.S_ISDIR(os.lstat(base).st_mode):
                return []
        except OSError:
            return []
        out: list[str] = []
        stack = [base]
        while stack:
            folder = stack.pop()
            rel = Path(folder).relative_to(self.root).as_posix()
            try:
                entries = list(os.scandir(folder))
            except OSError as exc:  # unreadable folder: report it, list the rest
                self.report_problem(rel, f"cannot list: {_os_reason(exc)}")
                continue
            odd = []
            for entry in entries:
                if entry.name.startswith("."):
                    continue
                if not _plain_name(entry.name):
                    odd.append(entry.name)
                elif entry.is_dir(follow_symlinks=False):
                    stack.append(Path(entry.path))
                else:
                    out.append(Path(entry.path).relative_to(self.root).as_posix())
            if odd:
                shown = ", ".join(ascii(n) for n in sorted(odd)[:3])
                self.report_problem(
                    rel, f"skipped {len(odd)} name(s) not valid UTF-8 or with control characters: {shown}"
                )
            else:
                self.problems.pop(rel, None)
        return sorted(out)

    def exists(self, path: str) -> bool:
        return os.path.lexists(self._abs(path))

    def read_bytes(self, path: str, max_bytes: int | None = None) -> bytes | None:
        """Content of a regular file, None if absent; UnreadableFileError for anything else."""
        rel = clean_path(path)
        target = self.root / rel
        try:
            st = os.lstat(target)
        except (FileNotFoundError, NotADirectoryError):
            return None
        except OSError as exc:
            raise UnreadableFileError(rel, f"cannot stat: {_os_reason(exc)}") from None
        if stat.S_ISDIR(st.st_mode):
            return None
        if not stat.S_ISREG(st.st_mode):
            raise UnreadableFileError(rel, f"not read: {_kind(st.st_mode)}")
        if not self._inside_root(target.parent):
            raise UnreadableFileError(rel, "not read: a folder on its path is a symlink out of the dataset")
        try:
            fd = os.open(target, _OPEN_FLAGS)
        except FileNotFoundError:
            return None
        except OSError as exc:
            if exc.errno == errno.ELOOP:
                raise UnreadableFileError(rel, f"not read: {_KINDS[stat.S_IFLNK]}") from None
            raise UnreadableFileError(rel, f"cannot open: {_os_reason(exc)}") from None
        with os.fdopen(fd, "rb") as fh:
            st = os.fstat(fh.fileno())
            if not stat.S_ISREG(st.st_mode):
                raise UnreadableFileError(rel, f"not read: {_kind(st.st_mode)}")
            if max_bytes is not None and st.st_size > max_bytes:
                raise UnreadableFileError(rel, f"file too large ({st.st_size} bytes > {max_bytes})")
            try:
                data = fh.read() if max_bytes is None else fh.read(max_bytes + 1)
            except OSError as exc:
                raise UnreadableFileError(rel, f"cannot read: {_os_reason(exc)}") from None
        if max_bytes is not None and len(data) > max_bytes:  # grew while we read it
            raise UnreadableFileError(rel, f"file too large (> {max_bytes} bytes)")
        return data

    def _inside_root(self, folder: Path) -> bool:
        try:
            return Path(os.path.realpath(folder)).is_relative_to(self.root)
        except (OSError, ValueError):
            return False

    def _write_failed(self, action: str, path: str, exc: OSError) -> StoreWriteError:
        return StoreWriteError(f"cannot {action} {self.name}/{path} in {self.root}: {_os_reason(exc)}")

    def _replace(self, path: str, data: bytes) -> None:
        """Temp file next to the target, fsync, ``os.replace``: the old content survives any failure."""
        target = self._target(path)
        tmp: str | None = None
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".tmp-", suffix=target.suffix)
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, target)
            tmp = None
        except OSError as exc:
            raise self._write_failed("write", path, exc) from None
        finally:
            if tmp is not None:
                Path(tmp).unlink(missing_ok=True)

    @contextlib.contextmanager
    def _hold(self, path: str) -> Iterator[None]:
        """The per-file lock; failing to create or take it (read-only, no space) is a write error."""
        try:
            lock = self._lock(path)
            lock.acquire()
        except OSError as exc:
            raise self._write_failed("lock", path, exc) from None
        try:
            yield
        finally:
            lock.release()

    def write_bytes(self, path: str, data: bytes, message: str = "") -> None:
        with self._hold(path):
            self._replace(path, data)

    def update_json(
        self, path: str, updater: Updater, message: str = "", attempts: int = 20
    ) -> JsonDict | None:
        self._target(path)  # refuse a path through a symlinked folder before reading it
        with self._hold(path):
            current = self.read_json(path)
            new = updater(current)
            if new is None:
                return current
            self._replace(path, dump_json(new))
            return new

    def delete(self, path: str, message: str = "") -> None:
        with self._hold(path):
            target = self._target(path)
            try:
                target.unlink(missing_ok=True)
            except OSError as exc:
                raise self._write_failed("delete", path, exc) from None
