"""HubStore: one dataset kept in a Hugging Face Hub *dataset* repo.

Every write is one commit. A compare-and-swap reads the branch head, reads the file at that commit and
commits with ``parent_commit=<that sha>``: the Hub answers 409/412 when someone else committed first, and
we re-read and retry with jittered backoff. Reads are pinned to a commit sha, so listings and file
contents can be cached by sha / blob id without ever being stale.
"""

from __future__ import annotations

import contextlib
import random
import threading
import time
from collections import OrderedDict
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import httpx2
from huggingface_hub import CommitOperationAdd, CommitOperationDelete, HfApi, hf_hub_url
from huggingface_hub.errors import (
    HfHubHTTPError,
    OfflineModeIsEnabled,
    RemoteEntryNotFoundError,
    RepositoryNotFoundError,
)
from huggingface_hub.utils import build_hf_headers, get_session, hf_raise_for_status

import settings
from store.base import (
    MAX_JSON_BYTES,
    ConflictError,
    CorruptFileError,
    DatasetStore,
    JsonDict,
    StoreError,
    StoreWriteError,
    UnreadableFileError,
    Updater,
    Validator,
    clean_path,
    dump_json,
    parse_json,
)

REPO_TYPE = "dataset"
CONFLICT_STATUSES = (409, 412)
CACHE_BYTES = 64 * 1024 * 1024
SMALL_FILE = 1024 * 1024  # CAS writes of JSON this small skip the preupload round trip
PREFETCH_THREADS = 8
TIMEOUT_S = 30


class HubAccessError(StoreError):
    """The Hub could not be reached, or refused the token (one-line message naming the repo)."""


class HubWriteError(HubAccessError, StoreWriteError):
    """A commit was refused (no space, no write access, server error): the repo is as it was."""


_WRITES = ("write", "delete")


def _status(exc: BaseException) -> int | None:
    response = getattr(exc, "response", None)
    return getattr(response, "status_code", None)


def _capped(path: str, data: bytes | None, max_bytes: int | None) -> bytes | None:
    if data is not None and max_bytes is not None and len(data) > max_bytes:
        raise UnreadableFileError(path, f"file too large ({len(data)} bytes > {max_bytes})")
    return data


def _hidden(path: str) -> bool:
    return any(part.startswith(".") for part in path.split("/"))


class _BlobCache:
    """File contents by git blob id (content-addressed, so never stale), bounded in bytes."""

    def __init__(self, max_bytes: int = CACHE_BYTES):
        self.max_bytes = max_bytes
        self._items: OrderedDict[str, bytes] = OrderedDict()
        self._size = 0
        self._lock = threading.Lock()

    def get(self, oid: str | None) -> bytes | None:
        if oid is None:
            return None
        with self._lock:
            data = self._items.get(oid)
            if data is not None:
                self._items.move_to_end(oid)
            return data

    def put(self, oid: str | None, data: bytes) -> None:
        if not oid or len(data) > self.max_bytes // 4:
            return
        with self._lock:
            if oid in self._items:
                return
            self._items[oid] = data
            self._size += len(data)
            while self._size > self.max_bytes:
                _, old = self._items.popitem(last=False)
                self._size -= len(old)


class HubDatasetStore(DatasetStore):
    """One dataset as a Hub dataset repo (``repo_id``), created if missing."""

    def __init__(self, repo_id: str, name: str, token: str | None = None, endpoint: str | None = None):
        super().__init__()
        self.repo_id = repo_id
        self.name = name
        self.endpoint = (endpoint or settings.get("HF_ENDPOINT")).rstrip("/")
        self.token = token or settings.get("HF_TOKEN") or None
        self.api = HfApi(endpoint=self.endpoint, token=self.token)
        self._trees: OrderedDict[str, dict[str, str]] = OrderedDict()  # sha -> {path: blob oid}
        self._oids: dict[tuple[str, str], str | None] = {}  # (sha, path) -> blob oid (None: absent)
        self._blobs = _BlobCache()
        self._lock = threading.Lock()
        with self._guard("create"):
            self.api.create_repo(repo_id, repo_type=REPO_TYPE, exist_ok=True)

    # --- errors ----------------------------------------------------------------------------------
    @contextlib.contextmanager
    def _guard(self, action: str) -> Iterator[None]:
        """Turn transport/auth failures into one-line :class:`HubAccessError`s that name the repo."""
        where = f"dataset {self.repo_id} on {self.endpoint}"
        error = HubWriteError if action in _WRITES else HubAccessError
        try:
            yield
        except OfflineModeIsEnabled:
            raise error(
                f"cannot {action} {where}: HF_HUB_OFFLINE is set, so the Hub client makes no requests "
                "(not even to a local HF_ENDPOINT); unset it to use the Hub store"
            ) from None
        except httpx2.TransportError as exc:
            raise error(f"cannot {action} {where}: Hub unreachable ({type(exc).__name__})") from None
        except RepositoryNotFoundError:
            raise error(f"cannot {action} {where}: repository not found or token lacks access") from None
        except HfHubHTTPError as exc:
            status = _status(exc)
            if status in (401, 403):
                raise error(
                    f"cannot {action} {where}: HTTP {status}, check HF_TOKEN (needs write access)"
                ) from None
            if status in CONFLICT_STATUSES or isinstance(exc, RemoteEntryNotFoundError):
                raise
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise error(f"cannot {action} {where}: HTTP {status}: {first[:300]}") from None

    # --- reads, pinned to a commit ---------------------------------------------------------------
    def head(self) -> str:
        """The sha of the ``main`` branch now (one request)."""
        with self._guard("read"):
            info = self.api.repo_info(self.repo_id, repo_type=REPO_TYPE, expand=["sha"])  # type: ignore[arg-type]
        if not info.sha:
            raise HubAccessError(f"dataset {self.repo_id} on {self.endpoint}: no commit sha in repo info")
        return info.sha

    def _tree(self, sha: str) -> dict[str, str]:
        with self._lock:
            tree = self._trees.get(sha)
        if tree is not None:
            return tree
        with self._guard("list"):
            entries = self.api.list_repo_tree(self.repo_id, recursive=True, revision=sha, repo_type=REPO_TYPE)
            tree = {e.path: oid for e in entries if (oid := getattr(e, "blob_id", None)) is not None}
        with self._lock:
            self._trees[sha] = tree
            while len(self._trees) > 4:
                self._trees.popitem(last=False)
        return tree

    def _download(self, sha: str, path: str, max_bytes: int | None = None) -> tuple[bytes | None, str | None]:
        """One file at ``sha`` (None if absent), streamed: a file over ``max_bytes`` is refused without
        being held in memory (:class:`UnreadableFileError`)."""
        url = hf_hub_url(self.repo_id, path, repo_type=REPO_TYPE, revision=sha, endpoint=self.endpoint)
        headers = build_hf_headers(token=self.token)
        with (
            self._guard("read"),
            get_session().stream("GET", url, headers=headers, timeout=TIMEOUT_S) as response,
        ):
            if response.status_code == 404:
                return None, None
            if response.status_code >= 400:
                response.read()
                hf_raise_for_status(response)
            length = response.headers.get("Content-Length", "")
            if max_bytes is not None and length.isdigit() and int(length) > max_bytes:
                raise UnreadableFileError(path, f"file too large ({length} bytes > {max_bytes})")
            chunks, size = [], 0
            for chunk in response.iter_bytes():
                size += len(chunk)
                if max_bytes is not None and size > max_bytes:
                    raise UnreadableFileError(path, f"file too large (> {max_bytes} bytes)")
                chunks.append(chunk)
        etag = response.headers.get("X-Linked-Etag") or response.headers.get("ETag") or ""
        oid = etag.removeprefix("W/").strip('"') or None
        return b"".join(chunks), oid

    def _read_at(
        self, sha: str, path: str, tree: dict[str, str] | None = None, max_bytes: int | None = None
    ) -> bytes | None:
        """Content of ``path`` at commit ``sha``: from the caches when possible, else one GET."""
        if tree is None:
            with self._lock:
                tree = self._trees.get(sha)
        if tree is not None:
            oid = tree.get(path)
            if oid is None:
                return None
        else:
            with self._lock:
                key = (sha, path)
                known = key in self._oids
                oid = self._oids.get(key)
            if known and oid is None:
                return None
        cached = self._blobs.get(oid)
        if cached is not None:
            return cached
        data, got_oid = self._download(sha, path, max_bytes)
        oid = oid or got_oid
        with self._lock:
            if len(self._oids) > 10_000:
                self._oids.clear()
            self._oids[(sha, path)] = oid if data is not None else None
        if data is not None:
            self._blobs.put(oid, data)
        return data

    def list_files(self, prefix: str = "") -> list[str]:
        return self._list(self._tree(self.head()), prefix)

    @staticmethod
    def _list(tree: dict[str, str], prefix: str) -> list[str]:
        start = clean_path(prefix) + "/" if prefix else ""
        return sorted(p for p in tree if p.startswith(start) and not _hidden(p))

    def read_bytes(self, path: str, max_bytes: int | None = None) -> bytes | None:
        path = clean_path(path)
        return _capped(path, self._read_at(self.head(), path, max_bytes=max_bytes), max_bytes)

    def iter_json(
        self, prefix: str = "", suffix: str = ".json", validate: Validator | None = None
    ) -> Iterator[tuple[str, JsonDict]]:
        """Like the base class, but the whole walk reads one commit, fetching missing files in parallel."""
        sha = self.head()
        tree = self._tree(sha)
        paths = [p for p in self._list(tree, prefix) if p.endswith(suffix)]
        self._forget_gone_problems(prefix, suffix, paths)
        missing = [p for p in paths if self._blobs.get(tree[p]) is None]
        if missing:

            def prefetch(path: str) -> None:
                with contextlib.suppress(CorruptFileError):  # reported by the walk below
                    self._read_at(sha, path, tree, MAX_JSON_BYTES)

            with ThreadPoolExecutor(PREFETCH_THREADS) as pool:
                list(pool.map(prefetch, missing))
        for path in paths:
            try:
                data = _capped(path, self._read_at(sha, path, tree, MAX_JSON_BYTES), MAX_JSON_BYTES)
            except CorruptFileError as exc:
                self.report_problem(exc.path, exc.reason)
                continue
            obj = self.accept_json(path, data, validate)
            if obj is not None:
                yield path, obj

    # --- writes: one commit each -----------------------------------------------------------------
    def _commit(self, operations: list, message: str, parent: str | None = None) -> str:
        info = self.api.create_commit(
            self.repo_id,
            operations,
            commit_message=message,
            repo_type=REPO_TYPE,
            parent_commit=parent,
        )
        return info.oid

    def write_bytes(self, path: str, data: bytes, message: str = "") -> None:
        path = clean_path(path)
        with self._guard("write"):
            self._commit([CommitOperationAdd(path, data)], message or f"Write {path}")

    def update_json(
        self, path: str, updater: Updater, message: str = "", attempts: int = 20
    ) -> JsonDict | None:
        path = clean_path(path)
        for attempt in range(max(1, attempts)):
            sha = self.head()
            raw = self._read_at(sha, path)
            current = None if raw is None else parse_json(path, raw)
            new = updater(current)
            if new is None:
                return current
            data = dump_json(new)
            if data == raw:  # nothing changes relative to the snapshot we decided on
                return new
            op = CommitOperationAdd(path, data)
            if len(data) <= SMALL_FILE:
                # Regular (non-LFS) upload, decided here: skips the preupload round trip and the client's
                # "unchanged on the branch head" shortcut, which would bypass the parent_commit check.
                op._upload_mode, op._should_ignore, op._remote_oid = "regular", False, None
            try:
                with self._guard("write"):
                    self._commit([op], message or f"Update {path}", parent=sha)
                return new
            except HfHubHTTPError as exc:
                if _status(exc) not in CONFLICT_STATUSES:
                    raise
            time.sleep(random.uniform(0, min(1.0, 0.02 * 2**attempt)))
        raise ConflictError(
            f"{self.name}/{path} in {self.repo_id}: lost the race {attempts} times, giving up"
        )

    def delete(self, path: str, message: str = "") -> None:
        path = clean_path(path)
        try:
            with self._guard("delete"):
                self._commit([CommitOperationDelete(path)], message or f"Delete {path}")
        except RemoteEntryNotFoundError:
            return
