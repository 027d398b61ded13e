"""`pull` against a local stand-in for the Hugging Face hub (nothing real can be downloaded here).

The stand-in implements what ``huggingface_hub`` 2.x asks of the hub for a download:
``HEAD /{repo}/resolve/{revision}/{path}`` answered like the real hub (small files: 200 with
``ETag`` = git blob sha1; LFS files: 302 to a CDN on another origin with ``X-Linked-Etag`` =
sha256 and ``X-Linked-Size``; ``X-Repo-Commit`` on both), and ``GET`` on either, with Range
support. The repo holds the tiny Qwen3-shaped graph, tokenizer and config of qwen_fixture.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import re
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import huggingface_hub.constants
import numpy as np
import pytest
from qwen_fixture import (
    CONFIG_FILE,
    HIDDEN,
    MODEL_FILE,
    TEST_REPO,
    TEST_REVISION,
    TOKENIZER_FILE,
    build_tiny_qwen,
    tiny_qwen_spec,
)

from mcp_memory.embedding.engine import Engine
from mcp_memory.embedding.pull import MARKER, pull
from mcp_memory.embedding.specs import MINILM, ModelFile, ModelSpec, locate
from mcp_memory.errors import ModelError

LFS_FILES = {MODEL_FILE, TOKENIZER_FILE}  # as on the real repo; config.json is a git blob


@dataclass
class Served:
    data: bytes
    lfs: bool
    sha256: str = ""  # what the hub advertises, computed from the original bytes
    git_sha1: str = ""

    def __post_init__(self) -> None:
        self.sha256 = hashlib.sha256(self.data).hexdigest()
        self.git_sha1 = hashlib.sha1(b"blob %d\0" % len(self.data) + self.data).hexdigest()


@dataclass
class FakeHub:
    files: dict[str, Served]
    url: str = ""
    cdn_url: str = ""
    log: list[tuple[str, str, str | None]] = field(default_factory=list)  # method, path, Range
    cut_once: dict[str, int] = field(default_factory=dict)  # path -> bytes sent before closing
    fail_get: set[str] = field(default_factory=set)  # paths whose GET answers 503

    def tamper(self, path: str) -> bytes:
        """Serve different bytes of the same size while advertising the original hashes."""
        original = self.files[path].data
        flipped = bytes([original[0] ^ 0xFF]) + original[1:]
        self.files[path].data = flipped
        return original

    def gets(self) -> list[str]:
        return [p for m, p, _ in self.log if m == "GET"]


RESOLVE = re.compile(r"^/(?P<repo>[^/]+/[^/]+)/resolve/(?P<rev>[^/]+)/(?P<path>[^?]+)$")


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: HubServer

    def log_message(self, format: str, *args: object) -> None:  # keep pytest output clean
        pass

    def do_HEAD(self) -> None:
        self._answer(head=True)

    def do_GET(self) -> None:
        self._answer(head=False)

    def _answer(self, *, head: bool) -> None:
        hub = self.server.hub
        if self.server.role == "cdn":
            sha = self.path.removeprefix("/cdn/")
            path = next((p for p, f in hub.files.items() if f.sha256 == sha), None)
            hub.log.append((self.command, f"cdn:{path}", self.headers.get("Range")))
            if path is None:
                return self._error(404, "EntryNotFound")
            return self._content(path, head)
        match = RESOLVE.match(self.path)
        path = match["path"] if match else self.path
        hub.log.append((self.command, path, self.headers.get("Range")))
        if match is None:
            return self._error(404, None)
        if match["repo"] != TEST_REPO:
            return self._error(401, "RepoNotFound")
        if match["rev"] != TEST_REVISION:
            return self._error(404, "RevisionNotFound")
        served = hub.files.get(path)
        if served is None:
            return self._error(404, "EntryNotFound")
        if served.lfs:  # like the real hub: metadata on a redirect to a CDN
            self.send_response(302)
            self.send_header("Location", f"{hub.cdn_url}/cdn/{served.sha256}")
            self.send_header("X-Repo-Commit", TEST_REVISION)
            self.send_header("X-Linked-Etag", f'"{served.sha256}"')
            self.send_header("X-Linked-Size", str(len(served.data)))
            self.send_header("ETag", '"0000000000000000000000000000000000000000"')
            self.send_header("Content-Length", "0")
            self.end_headers()
            return None
        return self._content(path, head, etag=served.git_sha1)

    def _content(self, path: str, head: bool, etag: str | None = None) -> None:
        hub = self.server.hub
        served = hub.files[path]
        if not head and path in hub.fail_get:
            return self._error(503, None)
        data, start = served.data, 0
        wanted = self.headers.get("Range")
        if wanted:
            start = int(re.fullmatch(r"bytes=(\d+)-\d*", wanted)[1])  # type: ignore[index]
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
        else:
            self.send_response(200)
        self.send_header("Content-Length", str(len(data) - start))
        self.send_header("Accept-Ranges", "bytes")
        self.send_header("X-Repo-Commit", TEST_REVISION)
        if etag is not None:
            self.send_header("ETag", f'"{etag}"')
        self.end_headers()
        if head:
            return None
        cut = hub.cut_once.pop(path, None) if not wanted else None
        if cut is not None:  # drop the connection mid-file, once
            self.wfile.write(data[:cut])
            self.wfile.flush()
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)
            return None
        self.wfile.write(data[start:])
        return None

    def _error(self, status: int, code: str | None) -> None:
        body = json.dumps({"error": code or "not found"}).encode()
        self.send_response(status)
        if code:
            self.send_header("X-Error-Code", code)
        self.send_header("X-Repo-Commit", TEST_REVISION)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)


class HubServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, hub: FakeHub, role: str) -> None:
        super().__init__(("127.0.0.1", 0), Handler)
        self.hub, self.role = hub, role

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


@pytest.fixture(scope="module")
def repo_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("repo")
    build_tiny_qwen(directory)
    return directory


@pytest.fixture
def hub(repo_dir: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeHub]:
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", False)
    files = {
        path: Served((repo_dir / path).read_bytes(), lfs=path in LFS_FILES)
        for path in (MODEL_FILE, TOKENIZER_FILE, CONFIG_FILE)
    }
    state = FakeHub(files)
    servers = [HubServer(state, "hub"), HubServer(state, "cdn")]
    threads = [
        threading.Thread(target=s.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        for s in servers
    ]
    for t in threads:
        t.start()
    state.url, state.cdn_url = servers[0].url, servers[1].url
    yield state
    for s in servers:
        s.shutdown()
        s.server_close()
    for t in threads:
        t.join()


@pytest.fixture
def spec() -> ModelSpec:
    return tiny_qwen_spec()


def run_pull(spec: ModelSpec, models: Path, hub: FakeHub) -> Path:
    return pull(spec, models, endpoint=hub.url, token=False, progress=False, threads=1)


def test_pull_installs_a_model_that_loads_and_embeds(
    spec: ModelSpec, hub: FakeHub, repo_dir: Path, tmp_path: Path
) -> None:
    assert locate(spec, tmp_path) is None
    root = run_pull(spec, tmp_path, hub)

    assert root == tmp_path / spec.id
    paths = locate(spec, tmp_path)
    assert paths is not None
    for name in (MODEL_FILE, TOKENIZER_FILE, CONFIG_FILE):
        assert (root / name).read_bytes() == (repo_dir / name).read_bytes()
    vectors = Engine(spec, paths, threads=1).embed(["fix the bug", "the cat"])
    assert vectors.shape == (2, HIDDEN)
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)

    record = json.loads((root / MARKER).read_text())
    assert record["revision"] == spec.revision
    assert record["files"][MODEL_FILE] == hub.files[MODEL_FILE].sha256
    # LFS files came from the CDN, the small file from /resolve; nothing else was asked.
    assert sorted(hub.gets()) == sorted([f"cdn:{MODEL_FILE}", f"cdn:{TOKENIZER_FILE}", CONFIG_FILE])
    assert {p for m, p, _ in hub.log if m == "HEAD"} == {MODEL_FILE, TOKENIZER_FILE, CONFIG_FILE}

    hub.log.clear()
    assert run_pull(spec, tmp_path, hub) == root  # already installed: no request at all
    assert hub.log == []


def test_corrupted_lfs_file_fails_the_sha256_check_and_is_not_installed(
    spec: ModelSpec, hub: FakeHub, tmp_path: Path
) -> None:
    original = hub.tamper(MODEL_FILE)
    bad = hashlib.sha256(hub.files[MODEL_FILE].data).hexdigest()
    with pytest.raises(ModelError, match="is corrupt") as caught:
        run_pull(spec, tmp_path, hub)
    message = str(caught.value)
    assert MODEL_FILE in message and hub.files[MODEL_FILE].sha256 in message and bad in message
    assert not (tmp_path / spec.id / MODEL_FILE).exists()
    assert locate(spec, tmp_path) is None

    hub.files[MODEL_FILE].data = original  # the hub is fixed: re-running installs
    run_pull(spec, tmp_path, hub)
    assert locate(spec, tmp_path) is not None


def test_corrupted_small_file_fails_the_git_sha1_check(
    spec: ModelSpec, hub: FakeHub, tmp_path: Path
) -> None:
    hub.tamper(CONFIG_FILE)
    with pytest.raises(ModelError, match=f"{CONFIG_FILE} is corrupt: the git blob sha1"):
        run_pull(spec, tmp_path, hub)
    assert not (tmp_path / spec.id / CONFIG_FILE).exists()
    assert locate(spec, tmp_path) is None


def test_a_pinned_sha256_wins_over_the_hub(hub: FakeHub, tmp_path: Path) -> None:
    wrong = "ab" * 32
    spec = tiny_qwen_spec(
        files=(
            ModelFile(MODEL_FILE),
            ModelFile(TOKENIZER_FILE, sha256=wrong),
            ModelFile(CONFIG_FILE),
        )
    )
    with pytest.raises(ModelError, match=f"pinned sha256 is {wrong} but") as caught:
        run_pull(spec, tmp_path, hub)
    assert hub.files[TOKENIZER_FILE].sha256 in str(caught.value)
    assert locate(spec, tmp_path) is None


def test_interrupted_transfer_resumes_with_a_range_request(
    spec: ModelSpec, hub: FakeHub, repo_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # huggingface_hub counts bytes as it hands 10 MB chunks to disk; use small chunks so that
    # the bytes of this small file received before the cut count as downloaded.
    monkeypatch.setattr(huggingface_hub.constants, "DOWNLOAD_CHUNK_SIZE", 1024)
    cut = 1024 * 14
    assert len(hub.files[MODEL_FILE].data) > 2 * cut
    hub.cut_once[MODEL_FILE] = cut
    run_pull(spec, tmp_path, hub)

    model_gets = [(p, r) for m, p, r in hub.log if m == "GET" and p == f"cdn:{MODEL_FILE}"]
    assert model_gets == [(f"cdn:{MODEL_FILE}", None), (f"cdn:{MODEL_FILE}", f"bytes={cut}-")]
    assert (tmp_path / spec.id / MODEL_FILE).read_bytes() == (repo_dir / MODEL_FILE).read_bytes()
    assert locate(spec, tmp_path) is not None


def test_failed_pull_is_not_installed_and_a_rerun_fetches_only_what_is_missing(
    spec: ModelSpec, hub: FakeHub, tmp_path: Path
) -> None:
    hub.fail_get.add(CONFIG_FILE)
    with pytest.raises(ModelError, match="run the pull again to continue"):
        run_pull(spec, tmp_path, hub)
    root = tmp_path / spec.id
    assert (root / MODEL_FILE).is_file() and (root / TOKENIZER_FILE).is_file()
    assert not (root / MARKER).exists()
    assert locate(spec, tmp_path) is None  # the model file is there, but it is not installed

    hub.fail_get.clear()
    hub.log.clear()
    run_pull(spec, tmp_path, hub)
    assert hub.gets() == [CONFIG_FILE]  # verified files were kept, not downloaded again
    assert locate(spec, tmp_path) is not None


def test_unreachable_hub_says_what_to_do(spec: ModelSpec, tmp_path: Path) -> None:
    with socket.socket() as s:  # a loopback port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(ModelError) as caught:
        pull(spec, tmp_path, endpoint=f"http://127.0.0.1:{port}", token=False, progress=False)
    message = str(caught.value)
    assert f"cannot reach the Hugging Face hub at http://127.0.0.1:{port}" in message
    assert "No network? Run `memcycle model pull tiny-qwen` on a machine with internet" in message
    assert str(tmp_path / spec.id) in message
    assert locate(spec, tmp_path) is None


def test_unknown_revision_is_reported(hub: FakeHub, tmp_path: Path) -> None:
    spec = tiny_qwen_spec(revision="f" * 40)
    with pytest.raises(ModelError, match="answered HTTP 404"):
        run_pull(spec, tmp_path, hub)


def test_offline_mode_refuses_to_pull(
    spec: ModelSpec, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    with pytest.raises(ModelError, match="HF_HUB_OFFLINE is set"):
        pull(spec, tmp_path, endpoint="http://127.0.0.1:9", token=False, progress=False)


def test_files_that_do_not_match_the_spec_are_not_installed(hub: FakeHub, tmp_path: Path) -> None:
    spec = tiny_qwen_spec(dimension=64, matryoshka_min=None)  # the graph gives 32
    with pytest.raises(ModelError, match="does not run: .* gives 32-d vectors but .* 64-d"):
        run_pull(spec, tmp_path, hub)
    assert locate(spec, tmp_path) is None


def test_a_new_pinned_revision_invalidates_the_install(
    spec: ModelSpec, hub: FakeHub, tmp_path: Path
) -> None:
    run_pull(spec, tmp_path, hub)
    newer = dataclasses.replace(spec, revision="f" * 40)
    with pytest.raises(ModelError, match="answered HTTP 404"):
        run_pull(newer, tmp_path, hub)  # the stand-in only knows TEST_REVISION
    assert locate(newer, tmp_path) is None


def test_packaged_model_needs_no_download(tmp_path: Path) -> None:
    root = pull(MINILM, tmp_path, endpoint="http://127.0.0.1:9", progress=False)
    assert (root / "model.onnx").is_file()
