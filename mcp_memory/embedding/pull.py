"""Download a model from the Hugging Face hub, verify it, and mark it installed.

``memcycle model pull qwen3-0.6b`` calls :func:`pull`. For each file of the spec it asks the
hub for the file's metadata (one HEAD request, which also tells a machine without network
apart quickly), downloads it with ``huggingface_hub.hf_hub_download`` into
``<models_dir>/<spec.id>/`` (progress bar; each file lands atomically, and within a run an
interrupted transfer resumes with a Range request), then checks its bytes: against the sha256
pinned in the spec when there is one, else against what the hub reports (the sha256 of an LFS
file, the git blob sha1 of a small one). A bad file is deleted and the pull fails naming both
hashes. Finally it loads the model once with the :class:`~mcp_memory.embedding.engine.Engine` and only
then writes the ``.complete`` marker that :func:`mcp_memory.embedding.specs.locate` requires, so an
interrupted or failed pull never looks installed; re-running it keeps the files already
verified in place and fetches the rest.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
from pathlib import Path
from typing import Any

import numpy as np

from mcp_memory.embedding.specs import ModelFile, ModelPaths, ModelSpec, model_dir, require
from mcp_memory.errors import ModelError
from mcp_memory.files import private_dir

log = logging.getLogger("mcp_memory")

MARKER = ".complete"
_SHA256 = re.compile(r"[0-9a-f]{64}")
_SHA1 = re.compile(r"[0-9a-f]{40}")
_CHUNK = 1 << 20


def pull(
    spec: ModelSpec,
    models_dir: Path,
    *,
    endpoint: str | None = None,
    token: str | bool | None = None,
    progress: bool = True,
    check: bool = True,
    threads: int = 2,
) -> Path:
    """Download, verify and install ``spec``'s files; return the model's directory.

    ``endpoint`` defaults to ``HF_ENDPOINT`` or the public hub; ``token`` is passed to
    huggingface_hub as is (None = its usual lookup). With ``check``, the model is loaded and
    must embed a text to the spec's dimension before it is marked installed.
    """
    if spec.repo is None:  # ships inside a package: nothing to download
        return require(spec, models_dir).model.parent
    if not spec.files:
        raise ModelError(f"model {spec.id} lists no files to download")
    listed = {f.path for f in spec.files}
    for needed in (spec.model_file, spec.tokenizer_file):
        if needed not in listed:
            raise ModelError(f"model {spec.id}: {needed} is not among its files {sorted(listed)}")

    import huggingface_hub

    root = model_dir(models_dir, spec)
    marker = root / MARKER
    if _already_installed(spec, root):
        log.info("%s is already installed in %s", spec.id, root)
        return root
    if huggingface_hub.is_offline_mode():
        raise ModelError(
            f"cannot pull {spec.id}: HF_HUB_OFFLINE is set; unset it, or pull on a machine "
            f"with internet and copy {root} to the same place here"
        )
    marker.unlink(missing_ok=True)  # from here on, the directory is a partial download
    private_dir(root)

    where = endpoint or huggingface_hub.constants.ENDPOINT
    revision = spec.revision or "main"
    digests: dict[str, str] = {}
    for file in spec.files:
        remote = _remote_metadata(spec, file, revision, where, token, root)
        local = _download(spec, file, revision, endpoint, token, progress, root)
        digests[file.path] = _verify(spec, file, local, remote)
        log.info("verified %s/%s (sha256 %s)", spec.id, file.path, digests[file.path])

    if check:
        _check(spec, root, threads)
    tmp = marker.with_name(MARKER + ".tmp")
    record = {"model": spec.id, "repo": spec.repo, "revision": spec.revision, "files": digests}
    tmp.write_text(json.dumps(record, indent=2) + "\n")
    tmp.replace(marker)
    log.info("installed %s in %s", spec.id, root)
    return root


def _already_installed(spec: ModelSpec, root: Path) -> bool:
    """Marker present, written for this revision, and every file still there."""
    try:
        record = json.loads((root / MARKER).read_text())
    except (OSError, ValueError):
        return False
    return (
        isinstance(record, dict)
        and record.get("revision") == spec.revision
        and all((root / f.path).is_file() for f in spec.files)
    )


def _remote_metadata(
    spec: ModelSpec,
    file: ModelFile,
    revision: str,
    endpoint: str,
    token: str | bool | None,
    root: Path,
) -> Any:
    """The hub's HEAD answer for one file (etag = LFS sha256 or git sha1, size)."""
    from huggingface_hub import get_hf_file_metadata, hf_hub_url
    from huggingface_hub.errors import HfHubHTTPError

    url = hf_hub_url(spec.repo or "", file.path, revision=revision, endpoint=endpoint)
    try:
        return get_hf_file_metadata(url, token=token, endpoint=endpoint, timeout=15)
    except HfHubHTTPError as exc:
        status = exc.response.status_code if exc.response is not None else "?"
        raise ModelError(
            f"the hub at {endpoint} answered HTTP {status} for {spec.repo}@{revision}/{file.path}; "
            f"check the endpoint, the repo and the revision ({exc})"
        ) from exc
    except _network_errors() as exc:
        raise ModelError(_unreachable(spec, endpoint, root, exc)) from exc


def _download(
    spec: ModelSpec,
    file: ModelFile,
    revision: str,
    endpoint: str | None,
    token: str | bool | None,
    progress: bool,
    root: Path,
) -> Path:
    from huggingface_hub import hf_hub_download

    try:
        local = hf_hub_download(
            spec.repo or "",
            file.path,
            revision=revision,
            local_dir=root,
            endpoint=endpoint,
            token=token,
            tqdm_class=None if progress else _silent_tqdm(),
        )
    except _network_errors() as exc:
        raise ModelError(
            f"downloading {spec.repo}/{file.path} failed: {exc}; run the pull again to "
            f"continue (files already verified are kept; {spec.id} is not installed until "
            "the pull completes)"
        ) from exc
    return Path(local)


def _verify(spec: ModelSpec, file: ModelFile, local: Path, remote: Any) -> str:
    """Check the downloaded bytes; return their sha256. Deletes the file on a mismatch."""
    sha256, git_sha1, size = _digests(local)
    etag = (remote.etag or "").lower()
    if file.sha256 is not None:
        expected, actual, what = file.sha256.lower(), sha256, "pinned sha256"
    elif remote.size is not None and remote.size != size:
        expected, actual, what = f"{remote.size} bytes", f"{size} bytes", "size on the hub"
    elif _SHA256.fullmatch(etag):
        expected, actual, what = etag, sha256, "sha256 reported by the hub"
    elif _SHA1.fullmatch(etag):
        expected, actual, what = etag, git_sha1, "git blob sha1 reported by the hub"
    elif remote.size is not None:
        expected, actual, what = f"{remote.size} bytes", f"{size} bytes", "size on the hub"
    else:
        local.unlink(missing_ok=True)
        raise ModelError(
            f"cannot verify {spec.id}/{file.path}: the hub reported neither a hash nor a size "
            f"(etag {remote.etag!r}); pin its sha256 in the model spec"
        )
    if actual != expected:
        local.unlink(missing_ok=True)
        raise ModelError(
            f"{spec.id}/{file.path} is corrupt: the {what} is {expected} but the downloaded "
            f"file has {actual}; the file was deleted, run the pull again"
        )
    return sha256


def _digests(path: Path) -> tuple[str, str, int]:
    """sha256, git blob sha1 and size of a file, in one pass."""
    size = path.stat().st_size
    sha256 = hashlib.sha256()
    git_sha1 = hashlib.sha1(f"blob {size}\0".encode())
    with path.open("rb") as f:
        while chunk := f.read(_CHUNK):
            sha256.update(chunk)
            git_sha1.update(chunk)
    return sha256.hexdigest(), git_sha1.hexdigest(), size


def _check(spec: ModelSpec, root: Path, threads: int) -> None:
    """Load the model once and embed a query and a document to the spec's dimension."""
    from mcp_memory.embedding.engine import Engine

    try:
        paths = ModelPaths(root / spec.model_file, root / spec.tokenizer_file)
        engine = Engine(spec, paths, threads=threads)
        vectors = np.vstack(
            [
                engine.embed(["where are the model files kept?"], kind="query"),
                engine.embed(["Model files are kept under the models directory."]),
            ]
        )
    except Exception as exc:  # any failure here means the files are not a usable model
        raise ModelError(
            f"{spec.id} downloaded and verified but does not run: {exc}; "
            f"delete {root} and pull again"
        ) from exc
    norms = np.linalg.norm(vectors, axis=1)
    if vectors.shape != (2, spec.dimension) or not np.allclose(norms, 1.0, atol=1e-3):
        raise ModelError(
            f"{spec.id} produced vectors of shape {vectors.shape} and norms {norms}, expected "
            f"(2, {spec.dimension}) unit vectors; the spec does not match the files"
        )


def _unreachable(spec: ModelSpec, endpoint: str, root: Path, exc: BaseException) -> str:
    return (
        f"cannot reach the Hugging Face hub at {endpoint} ({type(exc).__name__}: {exc}). "
        f"No network? Run `memcycle model pull {spec.id}` on a machine with internet, then "
        f"copy {root} to the same place on this machine (or set HF_ENDPOINT to a mirror)"
    )


def _network_errors() -> tuple[type[BaseException], ...]:
    """What huggingface_hub raises when the network fails: OSErrors (its HTTP errors, offline
    mode, requests' errors) and the transport errors of the httpx it uses (>= 1.0)."""
    errors: list[type[BaseException]] = [OSError]
    try:
        from huggingface_hub.utils import httpx as hub_http

        errors.append(hub_http.TransportError)
    except (ImportError, AttributeError):
        pass
    return tuple(errors)


def _silent_tqdm() -> Any:
    from huggingface_hub.utils import tqdm

    class Silent(tqdm):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            kwargs["disable"] = True
            super().__init__(*args, **kwargs)

    return Silent
