"""Crash-safe files for indexes: temp file + fsync + os.replace, and JSON manifests (never pickle)."""

from __future__ import annotations

import errno
import hashlib
import json
import os
import uuid
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

TMP_SUFFIX = ".tmp"


class IndexLoadError(ValueError):
    """An index on disk is missing, torn or unreadable."""


class IndexMismatchError(IndexLoadError):
    """An index on disk was built for another model or dimension than the caller expects."""


def file_sha256(path: Path) -> str:
    """Hex sha256 of a file, read in blocks."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def fsync_directory(directory: Path) -> None:
    """Make a rename inside `directory` durable (POSIX needs the directory itself fsynced)."""
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def atomic_write(path: Path, write: Callable[[Path], object]) -> None:
    """Write `path` all or nothing: `write` fills a temp file beside it, then fsync and os.replace.

    A crash at any point leaves either the old file or the new one, never a torn one; a stray
    temp file may remain and is harmless (see `remove_stale_temp_files`).
    """
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{uuid.uuid4().hex}{TMP_SUFFIX}")
    try:
        write(tmp)
        fd = os.open(tmp, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
    except RuntimeError as exc:
        tmp.unlink(missing_ok=True)
        disk = disk_error(exc)
        if disk is None:
            raise
        raise disk from exc
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    fsync_directory(path.parent)


# How a C++ library (FAISS) words the errno of a failed write in the RuntimeError it raises.
_DISK_ERRNOS = {
    "No space left on device": errno.ENOSPC,
    "Disk quota exceeded": errno.EDQUOT,
    "Input/output error": errno.EIO,
    "Read-only file system": errno.EROFS,
}


def disk_error(exc: RuntimeError) -> OSError | None:
    """The ``OSError`` a library's RuntimeError stands for when a write failed on the disk (full,
    over quota, failing): a transient condition a caller retries, not a bug. None otherwise."""
    text = str(exc)
    for words, number in _DISK_ERRNOS.items():
        if words in text:
            return OSError(number, f"{os.strerror(number)} (while writing an index)")
    return None


def atomic_write_json(path: Path, payload: Mapping[str, Any]) -> None:
    """Write a JSON document atomically."""
    data = json.dumps(payload, indent=2, sort_keys=True).encode()
    atomic_write(path, lambda tmp: tmp.write_bytes(data))


def read_json(path: Path) -> dict[str, Any]:
    """Read a JSON object written by `atomic_write_json`, with a clear error when it is not there."""
    try:
        payload = json.loads(path.read_text())
    except FileNotFoundError as exc:
        raise IndexLoadError(f"no manifest at {path}") from exc
    except (OSError, ValueError) as exc:
        raise IndexLoadError(f"unreadable manifest at {path}: {exc}") from exc
    if not isinstance(payload, dict):
        raise IndexLoadError(f"manifest at {path} is not a JSON object")
    return payload


def next_version(manifest_path: Path) -> int:
    """The version after the one recorded in an existing manifest (1 when there is none)."""
    try:
        current = read_json(manifest_path).get("version", 0)
    except IndexLoadError:
        return 1
    return int(current) + 1


def utc_now_iso() -> str:
    """An aware UTC timestamp for manifests."""
    return datetime.now(UTC).isoformat()


def remove_stale_temp_files(directory: Path) -> int:
    """Delete temp files left by crashed writers; call only while holding the directory's write lock."""
    removed = 0
    for path in directory.glob(f".*{TMP_SUFFIX}"):
        path.unlink(missing_ok=True)
        removed += 1
    return removed


def check_manifest(
    manifest: Mapping[str, Any],
    *,
    kind: str,
    path: Path,
    expected: Mapping[str, object],
) -> None:
    """Raise IndexMismatchError when the manifest is of another kind or disagrees with `expected`."""
    if manifest.get("kind") != kind:
        raise IndexLoadError(f"{path} holds a {manifest.get('kind')!r} index, expected {kind!r}")
    for key, want in expected.items():
        if want is not None and manifest.get(key) != want:
            raise IndexMismatchError(
                f"index at {path} has {key}={manifest.get(key)!r}, expected {want!r}; rebuild the index"
            )


def as_id_array(ids: npt.ArrayLike, *, name: str = "ids") -> npt.NDArray[np.int64]:
    """Ids as a 1-D C-contiguous int64 array; refuses floats and negatives (-1 means "no result")."""
    arr = np.asarray(ids)
    if arr.size == 0:
        return np.empty(0, dtype=np.int64)
    if arr.ndim != 1:
        raise ValueError(f"{name} must be 1-D, got shape {arr.shape}")
    if not np.issubdtype(arr.dtype, np.integer):
        raise ValueError(f"{name} must be integers, got dtype {arr.dtype}")
    out = np.ascontiguousarray(arr, dtype=np.int64)
    if out.min() < 0:
        raise ValueError(f"{name} must be non-negative (-1 is FAISS's 'no result')")
    return out


def check_unique(ids: npt.NDArray[np.int64]) -> None:
    """Refuse a batch that names the same id twice (which row should win would be a guess)."""
    if np.unique(ids).size != ids.size:
        raise ValueError("ids must be unique within one add() call")


def check_k(k: int) -> int:
    """k as a positive int."""
    if isinstance(k, bool) or not isinstance(k, int | np.integer) or k < 1:
        raise ValueError(f"k must be a positive integer, got {k!r}")
    return int(k)
