"""The one small interface every dataset backend implements.

A *dataset* is a folder of files laid out exactly as its Hub dataset repo would be. Paths are POSIX,
relative to the dataset root. Readers never crash or hang on a bad file: corrupt, oversized, too deeply
nested or schema-invalid JSON and non-regular files are reported (path + reason) through
:attr:`DatasetStore.problems` and skipped; writers never overwrite a corrupt file silently, and a failed
write (disk full, read-only, refused) raises :class:`StoreWriteError` leaving the old file intact.
"""

from __future__ import annotations

import json
import logging
import posixpath
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

log = logging.getLogger(__name__)

JsonDict = dict[str, Any]


class StoreError(Exception):
    """Base class of the store's errors."""


class CorruptFileError(StoreError):
    """A stored file exists but cannot be parsed; it is never overwritten implicitly."""

    def __init__(self, path: str, reason: str):
        super().__init__(f"corrupt file {path}: {reason}")
        self.path = path
        self.reason = reason


class ConflictError(StoreError):
    """A compare-and-swap lost its race more times than it was allowed to retry."""


class UnreadableFileError(CorruptFileError):
    """A stored name that is not a plain readable file (FIFO, device, symlink, too large, no permission).

    A :class:`CorruptFileError`, so every reader that skips corrupt files skips these too; never opened
    (or opened non-blocking), never followed, never overwritten implicitly."""


class StoreWriteError(StoreError):
    """A write failed (disk full, permission, read-only file system, the Hub refused it); nothing that was
    stored before has changed."""


class InvalidPathError(StoreError, ValueError):
    """A path tries to leave the dataset root or is otherwise not a plain relative path."""


@dataclass(frozen=True)
class Problem:
    """A file a reader skipped, and why (shown to maintainers, logged once)."""

    path: str
    reason: str


def clean_path(path: str) -> str:
    """Normalise a dataset-relative path and refuse anything that could escape the root."""
    if not isinstance(path, str) or not path or "\\" in path or "\x00" in path:
        raise InvalidPathError(f"invalid dataset path: {path!r}")
    norm = posixpath.normpath(path)
    if norm.startswith("/") or norm == "." or norm.startswith("../") or norm == "..":
        raise InvalidPathError(f"path leaves the dataset: {path!r}")
    return norm


MAX_JSON_BYTES = 16 * 1024 * 1024  # no stored JSON file is this large; a bigger one is refused unread
MAX_JSON_DEPTH = 64  # nesting deeper than this is refused (recursive readers downstream stay safe)


def json_depth_exceeds(obj: Any, limit: int = MAX_JSON_DEPTH) -> bool:
    """True if ``obj`` nests lists/objects deeper than ``limit`` (iterative: no recursion to overflow)."""
    stack: list[tuple[Any, int]] = [(obj, 1)]
    while stack:
        item, depth = stack.pop()
        children = item.values() if isinstance(item, dict) else item if isinstance(item, list) else ()
        for child in children:
            if isinstance(child, dict | list):
                if depth + 1 > limit:
                    return True
                stack.append((child, depth + 1))
    return False


class _NonStandardJSON(ValueError):
    pass


def _refuse_constant(name: str) -> Any:
    """``NaN``/``Infinity``: Python's json reads them, no other reader does and nothing here writes them."""
    raise _NonStandardJSON(name)


def parse_json(path: str, data: bytes) -> JsonDict:
    """Parse a stored JSON object or raise :class:`CorruptFileError` naming the path."""
    if len(data) > MAX_JSON_BYTES:
        raise UnreadableFileError(path, f"file too large ({len(data)} bytes > {MAX_JSON_BYTES})")
    try:
        obj = json.loads(data.decode("utf-8"), parse_constant=_refuse_constant)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise CorruptFileError(path, str(exc)) from None
    except _NonStandardJSON as exc:
        raise CorruptFileError(path, f"{exc.args[0]} is not JSON (numbers must be finite)") from None
    except RecursionError:
        raise CorruptFileError(path, "JSON nested too deeply") from None
    if not isinstance(obj, dict):
        raise CorruptFileError(path, f"expected a JSON object, got {type(obj).__name__}")
    if json_depth_exceeds(obj):
        raise CorruptFileError(path, f"JSON nested deeper than {MAX_JSON_DEPTH} levels")
    return obj


def dump_json(obj: JsonDict) -> bytes:
    return (json.dumps(obj, indent=2, sort_keys=True, ensure_ascii=False, allow_nan=False) + "\n").encode()


Validator = Callable[[JsonDict], Any]
"""Raises (normally ``store.schema.SchemaError``) when a parsed file is not what the reader expects."""

Updater = Callable[[JsonDict | None], JsonDict | None]
"""Gets the current content (None if absent) and returns the new one, or None to leave it unchanged."""


class DatasetStore(ABC):
    """Files of one dataset (``results`` or ``queue``), local or on the Hub."""

    name: str

    def __init__(self) -> None:
        self.problems: dict[str, Problem] = {}

    # --- primitives each backend implements -------------------------------------------------
    @abstractmethod
    def list_files(self, prefix: str = "") -> list[str]:
        """Sorted paths of all files under ``prefix`` (a folder path or '')."""

    @abstractmethod
    def read_bytes(self, path: str, max_bytes: int | None = None) -> bytes | None:
        """The file's content, or None when it does not exist. Raises :class:`UnreadableFileError` for a
        name that is not a plain file, or one larger than ``max_bytes`` (when given)."""

    @abstractmethod
    def write_bytes(self, path: str, data: bytes, message: str = "") -> None:
        """Atomically create or replace one file."""

    @abstractmethod
    def update_json(
        self, path: str, updater: Updater, message: str = "", attempts: int = 20
    ) -> JsonDict | None:
        """Compare-and-swap one JSON file: re-read and re-apply ``updater`` until the write wins.

        Returns the content now stored. Raises :class:`CorruptFileError` if the current file is corrupt,
        :class:`ConflictError` after ``attempts`` lost races; exceptions from ``updater`` propagate and
        nothing is written.
        """

    @abstractmethod
    def delete(self, path: str, message: str = "") -> None:
        """Remove one file if it exists."""

    # --- helpers built on the primitives ----------------------------------------------------
    def exists(self, path: str) -> bool:
        return self.read_bytes(path) is not None

    def read_json(self, path: str) -> JsonDict | None:
        """Parsed content, None if absent; raises CorruptFileError if unreadable."""
        data = self.read_bytes(path, MAX_JSON_BYTES)
        if data is None:
            return None
        return parse_json(path, data)

    def write_json(self, path: str, obj: JsonDict, message: str = "") -> None:
        self.write_bytes(path, dump_json(obj), message)

    def create_json(self, path: str, obj: JsonDict, message: str = "") -> bool:
        """Write ``obj`` only if ``path`` does not exist yet (atomic); True if this call created it."""
        created = False

        def create(current: JsonDict | None) -> JsonDict | None:
            nonlocal created
            created = current is None
            return obj if current is None else None

        self.update_json(path, create, message)
        return created

    def iter_json(
        self, prefix: str = "", suffix: str = ".json", validate: Validator | None = None
    ) -> Iterator[tuple[str, JsonDict]]:
        """Every parseable JSON object under ``prefix`` that ``validate`` (if given) accepts; bad files are
        reported and skipped (and a reported file that is gone stops being a problem)."""
        paths = self.list_files(prefix)
        self._forget_gone_problems(prefix, suffix, paths)
        for path in paths:
            if not path.endswith(suffix):
                continue
            try:
                data = self.read_bytes(path, MAX_JSON_BYTES)
            except CorruptFileError as exc:
                self.report_problem(exc.path, exc.reason)
                continue
            obj = self.accept_json(path, data, validate)
            if obj is not None:
                yield path, obj

    def accept_json(self, path: str, data: bytes | None, validate: Validator | None) -> JsonDict | None:
        """Parse and validate one file's content: the object, or None (absent, or reported as a problem)."""
        if data is None:
            return None
        try:
            obj = parse_json(path, data)
            if validate is not None:
                validate(obj)
        except CorruptFileError as exc:
            self.report_problem(exc.path, exc.reason)
            return None
        except StoreError as exc:  # SchemaError and friends: their message names the field
            self.report_problem(path, f"invalid: {exc}")
            return None
        except Exception as exc:  # noqa: BLE001 - a validator tripping on hostile data must not stop a walk
            self.report_problem(path, f"invalid: {type(exc).__name__}: {exc}".splitlines()[0][:300])
            return None
        self.problems.pop(path, None)
        return obj

    def _forget_gone_problems(self, prefix: str, suffix: str, listed: list[str]) -> None:
        """A reported file under ``prefix`` that no longer exists is no longer a problem."""
        present = set(listed)
        folder = clean_path(prefix) + "/" if prefix else ""
        for path in list(self.problems):  # a copy: other threads report problems on the same store
            if path.startswith(folder) and path.endswith(suffix) and path not in present:
                self.problems.pop(path, None)

    def report_problem(self, path: str, reason: str) -> None:
        if path not in self.problems:
            log.warning("skipping %s/%s: %s", self.name, path, reason)
        self.problems[path] = Problem(path, reason)
