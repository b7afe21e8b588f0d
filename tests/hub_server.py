"""A small in-process fake of the Hugging Face Hub HTTP API, for offline tests.

It implements the subset of the Hub API that ``huggingface_hub`` 2.4 uses for:
``create_repo``, ``repo_info``/``model_info``/``dataset_info`` (with ``sha`` and ``siblings``),
``list_repo_tree``/``list_repo_files`` (recursive, paginated with a ``Link`` header), ``create_commit``
(preupload answers ``uploadMode: "regular"`` so no LFS/xet is involved; NDJSON commit with ``file`` /
``deletedFile`` / ``deletedFolder`` lines; ``parentCommit`` that is not the branch head -> 412) and
``hf_hub_download`` (HEAD/GET ``resolve`` at a branch or a commit sha, with ``ETag``, ``X-Repo-Commit``,
``Content-Length``; a missing file -> 404 ``X-Error-Code: EntryNotFound``). Every commit keeps a full
snapshot, so downloads at an old sha keep working. Unknown routes are logged in ``server.unknown``
and answered 404.

How to use it in a test (the fixture sets everything ``huggingface_hub`` reads, in this process AND in
child processes started by the test, which inherit the environment)::

    from tests.hub_server import hub_server  # noqa: F401  (pytest fixture; or import from tests._store_helpers)

    def test_something(hub_server, tmp_path):
        hub_server.seed_model_repo("org/tiny", folder_with_config_json_and_safetensors)
        # now `hf-hub:org/tiny` resolves through huggingface_hub (HfApi().model_info, hf_hub_download, timm)
        sha = HfApi().model_info("org/tiny").sha
        store = HubDatasetStore("org/results", name="results")   # uses HF_ENDPOINT / HF_TOKEN

The fixture sets ``HF_ENDPOINT`` (``hub_server.url``), ``HF_TOKEN`` (``hub_server.token``),
``HF_HUB_DISABLE_XET=1``, ``HF_HUB_OFFLINE=0``, ``HF_HUB_CACHE``/``HF_HOME`` (a fresh folder under
``tmp_path``), ``HF_HUB_DISABLE_TELEMETRY=1``, and patches the matching module constants of an already
imported ``huggingface_hub`` (``constants.ENDPOINT`` etc. are read at import time). Useful attributes:
``url``, ``token`` (the only token allowed to write; reads are public), ``requests`` (list of
``(method, path?query)`` seen), ``unknown``, ``fail_next_commits(n, status)`` (inject lost races, or a
507/403 refusal), ``fail_next_requests(n, status, method, path_contains)`` (any request: a Hub 5xx),
``seed_model_repo(repo_id, folder, repo_type="model")`` (returns the commit sha),
``commit_files(repo_id, {path: bytes | None}, repo_type="dataset")`` (another writer),
``head(repo_id, repo_type)``, ``files(repo_id, repo_type, rev)``.
Without pytest, ``HubServer().start()`` / ``.stop()`` works too.

Hugging Face Jobs (``run_job``, ``inspect_job``, ``fetch_job_logs``, ``cancel_job``,
``list_jobs_hardware``): ``server.jobs`` (:class:`FakeJobs`) runs each Job's command as a local subprocess
in this checkout (``python`` is this interpreter; the image is ignored) with this process's environment
plus the Job's env and secrets, and reports SCHEDULING -> RUNNING -> COMPLETED / ERROR (non-zero exit,
with its output as logs) / CANCELED. ``jobs.hardware`` is the catalogue; ``jobs.never_start(n)`` leaves
the next ``n`` Jobs SCHEDULING forever; ``jobs.kill_next(n, after_s)`` SIGKILLs the next ``n`` Jobs' processes
``after_s`` seconds into their run (ERROR, as a lost machine); ``jobs.started`` lists every JobSpec.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import os
import secrets
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, quote, unquote, urlsplit

import pytest

DEFAULT_TOKEN = "hf_test_token_for_the_fake_hub"
PAGE_SIZE = 1000
TYPES = {"models": "model", "datasets": "dataset", "spaces": "space"}
GITATTRIBUTES = b"*.safetensors filter=lfs diff=lfs merge=lfs -text\n"


def git_blob_sha(data: bytes) -> str:
    """The git object id of a blob: what the Hub calls a regular file's ``oid`` / ``ETag``."""
    return hashlib.sha1(b"blob %d\x00" % len(data) + data).hexdigest()


@dataclass
class Commit:
    sha: str
    parent: str | None
    message: str
    files: dict[str, bytes]
    at: float = field(default_factory=time.time)


@dataclass
class Repo:
    repo_type: str
    repo_id: str
    commits: dict[str, Commit] = field(default_factory=dict)
    branches: dict[str, str] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)
    counter: int = 0

    def commit(self, files: dict[str, bytes], message: str, branch: str = "main") -> Commit:
        """Record a new snapshot on ``branch`` (caller holds ``lock``)."""
        parent = self.branches.get(branch)
        self.counter += 1
        digest = hashlib.sha1()
        digest.update(f"{self.repo_type}/{self.repo_id}\n{parent}\n{self.counter}\n{message}\n".encode())
        for path in sorted(files):
            digest.update(f"{path}\x00{git_blob_sha(files[path])}\n".encode())
        commit = Commit(digest.hexdigest(), parent, message, dict(files))
        self.commits[commit.sha] = commit
        self.branches[branch] = commit.sha
        return commit

    def resolve(self, revision: str) -> Commit | None:
        if revision in self.branches:
            return self.commits[self.branches[revision]]
        if revision in self.commits:
            return self.commits[revision]
        if len(revision) >= 7:
            matches = [c for sha, c in self.commits.items() if sha.startswith(revision)]
            if len(matches) == 1:
                return matches[0]
        return None


class HttpError(Exception):
    def __init__(self, status: int, message: str, code: str | None = None, headers: dict | None = None):
        super().__init__(message)
        self.status, self.message, self.code, self.headers = status, message, code, headers or {}


class HubServer:
    """The fake Hub: state + a ThreadingHTTPServer on 127.0.0.1 (free port)."""

    def __init__(self, token: str = DEFAULT_TOKEN, page_size: int = PAGE_SIZE):
        self.token = token
        self.page_size = page_size
        self.repos: dict[tuple[str, str], Repo] = {}
        self.repos_lock = threading.Lock()
        self.requests: list[tuple[str, str]] = []
        self.unknown: list[tuple[str, str]] = []
        self._fail_commits: list[int] = []
        self._fail_requests: list[tuple[str, str, int]] = []  # (method, path substring, status)
        self._fail_lock = threading.Lock()
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self.url = ""
        self.jobs = FakeJobs()

    # --- lifecycle -----------------------------------------------------------------------------
    def start(self) -> HubServer:
        server = self

        class Handler(_Handler):
            hub = server

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._httpd.server_address[1]}"
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, name="fake-hub", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self.jobs.stop_all()
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None

    # --- helpers for tests ---------------------------------------------------------------------
    def fail_next_commits(self, n: int, status: int = 412) -> None:
        """Answer the next ``n`` commit requests with ``status`` (409/412) as if someone moved first."""
        with self._fail_lock:
            self._fail_commits.extend([status] * n)

    def fail_next_requests(
        self, n: int, status: int = 503, method: str = "GET", path_contains: str = ""
    ) -> None:
        """Answer the next ``n`` ``method`` requests whose path contains ``path_contains`` with ``status``."""
        with self._fail_lock:
            self._fail_requests.extend([(method, path_contains, status)] * n)

    def _take_request_failure(self, method: str, path: str) -> int | None:
        with self._fail_lock:
            for i, (m, part, status) in enumerate(self._fail_requests):
                if m == method and part in path:
                    del self._fail_requests[i]
                    return status
        return None

    def create_repo(self, repo_id: str, repo_type: str = "model") -> Repo:
        with self.repos_lock:
            key = (repo_type, repo_id)
            if key not in self.repos:
                repo = Repo(repo_type, repo_id)
                with repo.lock:
                    repo.commit({".gitattributes": GITATTRIBUTES}, "initial commit")
                self.repos[key] = repo
            return self.repos[key]

    def seed_model_repo(
        self, repo_id: str, folder: str | Path, repo_type: str = "model", message: str = "seed"
    ) -> str:
        """Commit every file under ``folder`` (recursively) to ``repo_id``; returns the new commit sha."""
        repo = self.create_repo(repo_id, repo_type)
        root = Path(folder)
        with repo.lock:
            files = dict(repo.commits[repo.branches["main"]].files)
            for p in sorted(root.rglob("*")):
                if p.is_file():
                    files[p.relative_to(root).as_posix()] = p.read_bytes()
            return repo.commit(files, message).sha

    def commit_files(
        self,
        repo_id: str,
        files: dict[str, bytes | None],
        repo_type: str = "dataset",
        message: str = "direct",
    ) -> str:
        """Commit raw files (``None`` deletes) as "someone else" would, bypassing the API; returns the sha."""
        repo = self.create_repo(repo_id, repo_type)
        with repo.lock:
            current = dict(repo.commits[repo.branches["main"]].files)
            for path, data in files.items():
                if data is None:
                    current.pop(path, None)
                else:
                    current[path] = data
            return repo.commit(current, message).sha

    def head(self, repo_id: str, repo_type: str = "dataset") -> str:
        return self.repos[(repo_type, repo_id)].branches["main"]

    def files(self, repo_id: str, repo_type: str = "dataset", revision: str = "main") -> dict[str, bytes]:
        commit = self.repos[(repo_type, repo_id)].resolve(revision)
        assert commit is not None, revision
        return dict(commit.files)

    def _take_injected_failure(self) -> int | None:
        with self._fail_lock:
            return self._fail_commits.pop(0) if self._fail_commits else None

    def _repo(self, repo_type: str, repo_id: str) -> Repo:
        repo = self.repos.get((repo_type, repo_id))
        if repo is None:
            raise HttpError(404, f"Repository {repo_id} not found", "RepoNotFound")
        return repo

    def _commit_at(self, repo: Repo, revision: str) -> Commit:
        commit = repo.resolve(revision)
        if commit is None:
            raise HttpError(404, f"Invalid rev id: {revision}", "RevisionNotFound")
        return commit

    def _repo_url(self, repo_type: str, repo_id: str) -> str:
        return f"{self.url}/{repo_id}" if repo_type == "model" else f"{self.url}/{repo_type}s/{repo_id}"


# --- Hugging Face Jobs -------------------------------------------------------------------------------
REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_HARDWARE = [
    {"name": "cpu-basic", "prettyName": "CPU Basic", "cpu": "2 vCPU", "ram": "16 GB", "accelerator": None,
     "unitCostMicroUSD": 167, "unitCostUSD": 0.000167, "unitLabel": "minute"},
    {"name": "cpu-upgrade", "prettyName": "CPU Upgrade", "cpu": "8 vCPU", "ram": "32 GB", "accelerator": None,
     "unitCostMicroUSD": 500, "unitCostUSD": 0.0005, "unitLabel": "minute"},
    {"name": "t4-small", "prettyName": "Nvidia T4 - small", "cpu": "4 vCPU", "ram": "15 GB",
     "accelerator": {"type": "gpu", "model": "T4", "quantity": "1", "vram": "16 GB", "manufacturer": "Nvidia"},
     "unitCostMicroUSD": 6667, "unitCostUSD": 0.006667, "unitLabel": "minute"},
]  # fmt: skip


def _iso(t: float | None) -> str | None:
    if t is None:
        return None
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t)) + f".{int(t % 1 * 1000):03d}Z"


@dataclass
class FakeJob:
    id: str
    namespace: str
    spec: dict
    stage: str = "SCHEDULING"
    message: str | None = None
    created: float = field(default_factory=time.time)
    started: float | None = None
    finished: float | None = None
    logs: list[tuple[float, str]] = field(default_factory=list)
    proc: subprocess.Popen | None = None
    canceled: bool = False
    killed: bool = False

    def info(self) -> dict:
        spec = self.spec
        out = {
            "id": self.id, "createdAt": _iso(self.created), "startedAt": _iso(self.started),
            "finishedAt": _iso(self.finished), "command": spec.get("command"), "arguments": [],
            "environment": spec.get("environment") or {},
            "secrets": dict.fromkeys(spec.get("secrets") or {}, "***"),
            "flavor": spec.get("flavor"), "labels": spec.get("labels"),
            "status": {"stage": self.stage, "message": self.message},
            "owner": {"id": "0" * 24, "name": self.namespace, "type": "user"},
        }  # fmt: skip
        if "spaceId" in spec:
            out["spaceId"] = spec["spaceId"]
        else:
            out["dockerImage"] = spec.get("dockerImage")
        return out


class FakeJobs:
    """The Jobs half of the fake Hub; its runner is a local subprocess per Job."""

    def __init__(self) -> None:
        self.hardware = [dict(h) for h in DEFAULT_HARDWARE]
        self.jobs: dict[str, FakeJob] = {}
        self.started: list[dict] = []
        self.lock = threading.Lock()
        self._never_start = 0
        self._kills: list[float] = []

    def never_start(self, n: int = 1) -> None:
        with self.lock:
            self._never_start += n

    def kill_next(self, n: int = 1, after_s: float = 0.5) -> None:
        with self.lock:
            self._kills.extend([after_s] * n)

    def running(self) -> list[FakeJob]:
        with self.lock:
            return [j for j in self.jobs.values() if j.stage in ("SCHEDULING", "RUNNING")]

    def wait_idle(self, timeout: float = 120.0) -> None:
        """Wait until no Job process runs (SCHEDULING-forever Jobs do not count)."""
        deadline = time.monotonic() + timeout
        while any(j.stage == "RUNNING" for j in self.running()):
            if time.monotonic() > deadline:
                raise AssertionError("fake Jobs still running")
            time.sleep(0.05)

    def stop_all(self) -> None:
        for job in list(self.jobs.values()):
            if job.proc is not None and job.proc.poll() is None:
                job.canceled = True
                self._kill(job)

    @staticmethod
    def _kill(job: FakeJob) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError, AttributeError):
            os.killpg(job.proc.pid, signal.SIGKILL)  # its harness child too

    def create(self, namespace: str, spec: dict) -> FakeJob:
        for name in ("command", "flavor"):
            if name not in spec:
                raise HttpError(400, f"missing {name}")
        if spec["flavor"] not in {h["name"] for h in self.hardware}:
            raise HttpError(400, f"unknown flavor {spec['flavor']!r}")
        job = FakeJob(secrets.token_hex(12), namespace, spec)
        with self.lock:
            self.jobs[job.id] = job
            self.started.append(spec)
            stuck = self._never_start > 0
            self._never_start -= 1 if stuck else 0
            kill_after = self._kills.pop(0) if self._kills and not stuck else None
        if not stuck:
            threading.Thread(
                target=self._run, args=(job, kill_after), daemon=True, name=f"job-{job.id}"
            ).start()
        return job

    def _run(self, job: FakeJob, kill_after: float | None) -> None:
        spec = job.spec
        cmd = list(spec["command"]) + list(spec.get("arguments") or [])
        if cmd and cmd[0] in ("python", "python3"):
            cmd[0] = sys.executable  # the "image" is this checkout and this interpreter
        env = {**os.environ, **(spec.get("environment") or {}), **(spec.get("secrets") or {})}
        env["PYTHONPATH"] = str(REPO_ROOT)
        job.started, job.stage = time.time(), "RUNNING"
        try:
            job.proc = subprocess.Popen(
                cmd, cwd=REPO_ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                start_new_session=True, text=True, errors="replace",
            )  # fmt: skip
        except OSError as exc:
            job.logs.append((time.time(), f"cannot start: {exc}"))
            job.stage, job.message, job.finished = "ERROR", str(exc), time.time()
            return
        if kill_after is not None:

            def kill() -> None:
                if job.proc.poll() is None:
                    job.killed = True
                    self._kill(job)

            threading.Timer(kill_after, kill).start()
        timeout = spec.get("timeoutSeconds")
        if timeout:
            threading.Timer(float(timeout), lambda: job.proc.poll() is None and self._kill(job)).start()
        assert job.proc.stdout is not None
        for line in job.proc.stdout:
            job.logs.append((time.time(), line.rstrip("\n")))
        rc = job.proc.wait()
        job.finished = time.time()
        if job.canceled:
            job.stage, job.message = "CANCELED", "canceled by the user"
        elif rc == 0:
            job.stage, job.message = "COMPLETED", None
        else:
            job.stage = "ERROR"
            job.message = "killed (the machine was lost)" if job.killed else f"exit code {rc}"

    def cancel(self, job: FakeJob) -> None:
        if job.stage in ("COMPLETED", "ERROR", "CANCELED", "DELETED"):
            return
        job.canceled = True
        if job.proc is not None and job.proc.poll() is None:
            self._kill(job)
        else:  # never started
            job.stage, job.message, job.finished = "CANCELED", "canceled by the user", time.time()


class _Handler(BaseHTTPRequestHandler):
    hub: HubServer
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body are separate writes: avoid 40 ms delayed-ACK stalls

    def log_message(self, format: str, *args) -> None:  # noqa: A002 - silence stderr logging
        return

    # --- plumbing ------------------------------------------------------------------------------
    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_HEAD(self) -> None:
        self._dispatch("HEAD")

    def do_POST(self) -> None:
        self._dispatch("POST")

    def _body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _send(self, status: int, body: bytes = b"", headers: dict | None = None, ctype: str = "") -> None:
        self.send_response(status)
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        if ctype:
            self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _json(self, status: int, obj, headers: dict | None = None) -> None:
        self._send(status, json.dumps(obj).encode(), headers, "application/json")

    def _authorized(self) -> bool:
        return self.headers.get("Authorization", "") == f"Bearer {self.hub.token}"

    def _require_write(self) -> None:
        if not self.headers.get("Authorization"):
            raise HttpError(401, "You must be authenticated to write")
        if not self._authorized():
            raise HttpError(401, "Invalid credentials in Authorization header")

    def _dispatch(self, method: str) -> None:
        split = urlsplit(self.path)
        query = {k: v[-1] for k, v in parse_qs(split.query).items()}
        segments = [unquote(s) for s in split.path.strip("/").split("/")] if split.path.strip("/") else []
        self.hub.requests.append((method, self.path))
        try:
            body = self._body() if method == "POST" else b""
            injected = self.hub._take_request_failure(method, split.path)
            if injected is not None:
                raise HttpError(injected, f"injected failure {injected}")
            if not self._route(method, segments, query, body):
                self.hub.unknown.append((method, self.path))
                raise HttpError(404, f"unknown route {method} {split.path}")
        except HttpError as exc:
            headers = dict(exc.headers)
            if exc.code:
                headers["X-Error-Code"] = exc.code
            headers["X-Error-Message"] = exc.message
            self._json(exc.status, {"error": exc.message}, headers)

    def _route(self, method: str, seg: list[str], query: dict, body: bytes) -> bool:
        if seg[:3] == ["api", "repos", "create"] and method == "POST":
            self._create_repo(json.loads(body or b"{}"))
            return True
        if seg[:2] == ["api", "validate-yaml"] and method == "POST":
            self._json(200, {"warnings": []})  # README.md metadata: accepted as is
            return True
        if seg[:2] == ["api", "whoami-v2"]:
            if not self._authorized():
                raise HttpError(401, "Invalid credentials in Authorization header")
            self._json(200, {"type": "user", "name": "tester", "auth": {"accessToken": {"role": "write"}}})
            return True
        if seg[:2] == ["api", "jobs"]:
            return self._jobs(method, seg[2:], query, body)
        if len(seg) >= 4 and seg[0] == "api" and seg[1] in TYPES:
            repo_type, repo_id, rest = TYPES[seg[1]], f"{seg[2]}/{seg[3]}", seg[4:]
            return self._api(method, repo_type, repo_id, rest, query, body)
        # resolve: /{org}/{name}/resolve/{rev}/{path} or /{datasets|spaces}/{org}/{name}/resolve/...
        repo_type = "model"
        if seg and seg[0] in ("datasets", "spaces"):
            repo_type, seg = TYPES[seg[0]], seg[1:]
        if len(seg) >= 5 and seg[2] == "resolve" and method in ("GET", "HEAD"):
            self._resolve(repo_type, f"{seg[0]}/{seg[1]}", seg[3], "/".join(seg[4:]))
            return True
        return False

    # --- endpoints -----------------------------------------------------------------------------
    def _jobs(self, method: str, rest: list[str], query: dict, body: bytes) -> bool:
        """``/api/jobs/hardware``, ``/api/jobs/{ns}`` (POST: run), ``/api/jobs/{ns}/{id}`` (inspect),
        ``.../logs`` (SSE, ``?tail=N``), ``.../cancel`` (POST)."""
        fake = self.hub.jobs
        if rest == ["hardware"] and method == "GET":
            self._json(200, fake.hardware)
            return True
        self._require_write()
        if len(rest) == 1 and method == "POST":
            try:
                spec = json.loads(body or b"{}")
            except ValueError:
                raise HttpError(400, "invalid JSON") from None
            self._json(200, fake.create(rest[0], spec).info())
            return True
        if len(rest) < 2:
            return False
        job = fake.jobs.get(rest[1])
        if job is None or job.namespace != rest[0]:
            raise HttpError(404, f"Job {rest[1]} not found")
        if len(rest) == 2 and method == "GET":
            self._json(200, job.info())
            return True
        if rest[2:] == ["cancel"] and method == "POST":
            fake.cancel(job)
            self._send(200)
            return True
        if rest[2:] == ["logs"] and method == "GET":
            lines = list(job.logs)
            tail = int(query.get("tail") or 0)
            lines = [(job.created, "===== Job started ====="), *lines[-tail:]] if tail else lines
            events = "".join(
                f"data: {json.dumps({'data': text, 'timestamp': _iso(t)})}\n\n" for t, text in lines
            )
            self._send(200, events.encode(), ctype="text/event-stream")
            return True
        return False

    def _create_repo(self, payload: dict) -> None:
        self._require_write()
        name, org = payload.get("name"), payload.get("organization")
        repo_id = f"{org}/{name}" if org else f"tester/{name}"
        repo_type = payload.get("type") or "model"
        with self.hub.repos_lock:
            exists = (repo_type, repo_id) in self.hub.repos
        url = self.hub._repo_url(repo_type, repo_id)
        if exists:  # the real Hub's 409 carries the url too; create_repo(exist_ok=True) reads it
            self._json(
                409, {"error": "You already created this repo", "url": url}, {"X-Error-Message": "exists"}
            )
            return
        self.hub.create_repo(repo_id, repo_type)
        self._json(200, {"url": url, "name": repo_id})

    def _api(
        self, method: str, repo_type: str, repo_id: str, rest: list[str], query: dict, body: bytes
    ) -> bool:
        hub = self.hub
        if method == "GET" and (not rest or rest[0] == "revision"):
            repo = hub._repo(repo_type, repo_id)
            commit = hub._commit_at(repo, rest[1] if len(rest) > 1 else "main")
            self._json(200, self._info(repo, commit, query))
            return True
        if method == "GET" and rest and rest[0] == "tree" and len(rest) >= 2:
            repo = hub._repo(repo_type, repo_id)
            commit = hub._commit_at(repo, rest[1])
            self._tree(repo, commit, "/".join(rest[2:]), query)
            return True
        if method == "POST" and rest and rest[0] == "preupload" and len(rest) >= 2:
            self._require_write()
            repo = hub._repo(repo_type, repo_id)
            commit = hub._commit_at(repo, rest[1])
            files = json.loads(body)["files"]
            answer = []
            for f in files:
                existing = commit.files.get(f["path"])
                oid = git_blob_sha(existing) if existing is not None else None
                answer.append({"path": f["path"], "uploadMode": "regular", "shouldIgnore": False, "oid": oid})
            self._json(200, {"files": answer, "commitOid": commit.sha})
            return True
        if method == "POST" and rest and rest[0] == "commit" and len(rest) >= 2:
            self._require_write()
            self._commit(hub._repo(repo_type, repo_id), rest[1], body)
            return True
        return False

    def _info(self, repo: Repo, commit: Commit, query: dict) -> dict:
        blobs = query.get("blobs", "").lower() in ("1", "true")
        siblings = []
        for path in sorted(commit.files):
            sibling: dict = {"rfilename": path}
            if blobs:  # like the Hub: sizes only with files_metadata=True
                data = commit.files[path]
                sibling.update(size=len(data), blobId=git_blob_sha(data))
                if path.endswith(".safetensors"):
                    sha256 = hashlib.sha256(data).hexdigest()
                    sibling["lfs"] = {"size": len(data), "sha256": sha256, "pointerSize": 134}
            siblings.append(sibling)
        info = {
            "id": repo.repo_id,
            "author": repo.repo_id.split("/")[0],
            "sha": commit.sha,
            "private": False,
            "disabled": False,
            "gated": False,
            "lastModified": time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime(commit.at)),
            "tags": [],
            "siblings": siblings,
        }
        if repo.repo_type == "model" and "model.safetensors" in commit.files:
            counts = safetensors_parameters(commit.files["model.safetensors"])
            if counts:
                info["safetensors"] = {"parameters": counts, "total": sum(counts.values())}
        return info

    def _tree(self, repo: Repo, commit: Commit, folder: str, query: dict) -> None:
        recursive = query.get("recursive", "false").lower() in ("1", "true")
        folder = folder.strip("/")
        prefix = f"{folder}/" if folder else ""
        if folder and not any(p.startswith(prefix) for p in commit.files):
            raise HttpError(404, f"{folder} does not exist", "EntryNotFound", {"X-Repo-Commit": commit.sha})
        entries: dict[str, dict] = {}
        for path, data in commit.files.items():
            if not path.startswith(prefix):
                continue
            parts = path[len(prefix) :].split("/")
            # folders on the way (all of them when recursive, the first level otherwise)
            for depth in range(1, len(parts) if recursive else min(2, len(parts))):
                sub = prefix + "/".join(parts[:depth])
                entries.setdefault(sub, {"type": "directory", "path": sub, "oid": "0" * 40, "size": 0})
            if recursive or len(parts) == 1:
                entries[path] = {"type": "file", "path": path, "size": len(data), "oid": git_blob_sha(data)}
        ordered = [entries[k] for k in sorted(entries)]
        start = int(query.get("cursor", "0"))
        page = ordered[start : start + repo_page_size(self.hub)]
        headers = {}
        if start + len(page) < len(ordered):
            split = urlsplit(self.path)
            params = {k: v for k, v in parse_qs(split.query).items() if k != "cursor"}
            params["cursor"] = [str(start + len(page))]
            qs = "&".join(f"{k}={quote(v[-1])}" for k, v in params.items())
            headers["Link"] = f'<{self.hub.url}{split.path}?{qs}>; rel="next"'
        self._json(200, page, headers)

    def _commit(self, repo: Repo, revision: str, body: bytes) -> None:
        lines = [json.loads(line) for line in body.splitlines() if line.strip()]
        if not lines or lines[0].get("key") != "header":
            raise HttpError(400, "commit payload must start with a header line")
        header = lines[0]["value"]
        failure = self.hub._take_injected_failure()
        if failure is not None:
            raise HttpError(failure, "A commit has happened since. Please refresh and try again.")
        with repo.lock:
            if revision not in repo.branches:
                raise HttpError(404, f"Invalid rev id: {revision}", "RevisionNotFound")
            head = repo.branches[revision]
            parent = header.get("parentCommit")
            if parent is not None and not head.startswith(parent):
                raise HttpError(412, "A commit has happened since. Please refresh and try again.")
            files = dict(repo.commits[head].files)
            for line in lines[1:]:
                key, value = line["key"], line["value"]
                path = value["path"]
                if key == "file":
                    if value.get("encoding") != "base64":
                        raise HttpError(400, "only base64 file content is supported")
                    files[path] = base64.b64decode(value["content"])
                elif key == "deletedFile":
                    if path not in files:
                        raise HttpError(404, f"{path} does not exist", "EntryNotFound")
                    del files[path]
                elif key == "deletedFolder":
                    prefix = path.rstrip("/") + "/"
                    for p in [p for p in files if p.startswith(prefix)]:
                        del files[p]
                else:
                    raise HttpError(400, f"unsupported commit operation {key!r} (LFS is not emulated)")
            commit = repo.commit(files, header.get("summary", ""), revision)
        url = f"{self.hub._repo_url(repo.repo_type, repo.repo_id)}/commit/{commit.sha}"
        self._json(200, {"success": True, "commitOid": commit.sha, "commitUrl": url, "pullRequestUrl": None})

    def _resolve(self, repo_type: str, repo_id: str, revision: str, path: str) -> None:
        repo = self.hub._repo(repo_type, repo_id)
        commit = self.hub._commit_at(repo, revision)
        data = commit.files.get(path)
        if data is None:
            raise HttpError(404, "Entry not found", "EntryNotFound", {"X-Repo-Commit": commit.sha})
        headers = {"ETag": f'"{git_blob_sha(data)}"', "X-Repo-Commit": commit.sha, "Accept-Ranges": "none"}
        self._send(200, data, headers, "application/octet-stream")


def safetensors_parameters(data: bytes) -> dict[str, int]:
    """Parameter count per dtype from a safetensors header (what the Hub reports as ``safetensors``)."""
    try:
        size = int.from_bytes(data[:8], "little")
        header = json.loads(data[8 : 8 + size])
    except (ValueError, UnicodeDecodeError):
        return {}
    counts: dict[str, int] = {}
    for name, tensor in header.items():
        if name == "__metadata__":
            continue
        n = 1
        for dim in tensor["shape"]:
            n *= dim
        counts[tensor["dtype"]] = counts.get(tensor["dtype"], 0) + n
    return counts


def repo_page_size(hub: HubServer) -> int:
    return max(1, hub.page_size)


def configure_hf_hub(monkeypatch: pytest.MonkeyPatch, server: HubServer, cache_dir: Path) -> None:
    """Point ``huggingface_hub`` (env for children, constants for this process) at ``server``."""
    env = {
        "HF_ENDPOINT": server.url,
        "HF_TOKEN": server.token,
        "HF_HUB_DISABLE_XET": "1",
        "HF_HUB_OFFLINE": "0",
        "HF_HUB_DISABLE_TELEMETRY": "1",
        "HF_HUB_DISABLE_PROGRESS_BARS": "1",
        "HF_HOME": str(cache_dir),
        "HF_HUB_CACHE": str(cache_dir / "hub"),
    }
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("TRANSFORMERS_OFFLINE", raising=False)
    from huggingface_hub import constants, hf_api

    monkeypatch.setattr(constants, "ENDPOINT", server.url)
    monkeypatch.setattr(
        constants, "HUGGINGFACE_CO_URL_TEMPLATE", server.url + "/{repo_id}/resolve/{revision}/{filename}"
    )
    monkeypatch.setattr(constants, "HF_HUB_DISABLE_XET", True)
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(cache_dir / "hub"))
    monkeypatch.setattr(constants, "HF_HOME", str(cache_dir))
    monkeypatch.setattr(hf_api.api, "endpoint", server.url)
    for name in ("HUGGINGFACE_HUB_CACHE",):
        if hasattr(constants, name):
            monkeypatch.setattr(constants, name, str(cache_dir / "hub"))


@pytest.fixture
def hub_server(
    monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[HubServer]:
    """A fresh fake Hub for one test, with ``huggingface_hub`` pointed at it (see module docstring)."""
    server = HubServer().start()
    configure_hf_hub(monkeypatch, server, tmp_path_factory.mktemp("hf-home"))
    try:
        yield server
    finally:
        server.stop()
