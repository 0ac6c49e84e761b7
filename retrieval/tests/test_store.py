"""TenantIndexStore: versioned commits, cross-process locking, lock-free readers, crash safety."""

from __future__ import annotations

import errno
import multiprocessing
import os
from pathlib import Path

import numpy as np
import pytest

from retrieval.persist import IndexMismatchError
from retrieval.store import IndexLockTimeout, TenantIndexStore
from retrieval.tests.conformance import DIMENSION, MODEL_ID, doc_text, unit_vectors

TENANT = "acme"
SPAWN = multiprocessing.get_context("spawn")  # never fork a process that may hold FAISS state


def make_store(base, **kwargs):
    return TenantIndexStore(base, TENANT, dimension=DIMENSION, model_id=MODEL_ID, **kwargs)


def add_chunks(store, ids):
    ids = np.asarray(ids, dtype=np.int64)
    with store.write() as indexes:
        indexes.vectors.add(ids, unit_vectors(ids))
        indexes.bm25.add(ids, [doc_text(i) for i in ids.tolist()])
    return indexes.version


def live_ids(store):
    indexes = store.read()
    vector_ids = sorted(indexes.vectors.ids().tolist())
    assert vector_ids == sorted(indexes.bm25.ids().tolist())
    return vector_ids


# Process bodies: top-level so that the spawn start method can import them.


def writer_process(base, ids):
    store = make_store(Path(base))
    for id_ in ids:
        add_chunks(store, [id_])


def reader_process(base, commands, results):
    store = make_store(Path(base))
    while commands.get(timeout=60) != "stop":
        indexes = store.read()
        results.put((indexes.version, sorted(indexes.vectors.ids().tolist()), id(indexes)))


def crashing_writer_process(base, crash_at):
    """Add id 999, but die (no cleanup, like a SIGKILL) just before `crash_at` is replaced."""
    real_replace = os.replace

    def replace(src, dst):
        if Path(dst).name == crash_at:
            os._exit(3)
        real_replace(src, dst)

    os.replace = replace
    add_chunks(make_store(Path(base)), [999])


def run(target, *args):
    process = SPAWN.Process(target=target, args=args)
    process.start()
    process.join(timeout=120)
    assert process.exitcode is not None, "child process hung"
    return process.exitcode


# Tests.


def test_a_tenant_without_an_index_reads_as_empty(tmp_path):
    indexes = make_store(tmp_path).read()
    assert indexes.version == 0 and len(indexes.vectors) == 0 and len(indexes.bm25) == 0
    _, found = indexes.vectors.search(unit_vectors(np.array([1]))[0], 3)
    assert (found == -1).all()


def test_write_commits_a_new_version_that_read_returns(tmp_path):
    store = make_store(tmp_path)
    assert add_chunks(store, [1, 2, 3]) == 1
    assert add_chunks(store, [4]) == 2
    assert store.current_version() == 2 and store.read().version == 2
    assert live_ids(store) == [1, 2, 3, 4]
    assert store.read().bm25.search("key4x0", 1)[1][0, 0] == 4


def test_read_is_cached_until_a_new_version_is_committed(tmp_path):
    store = make_store(tmp_path)
    add_chunks(store, [1])
    first = store.read()
    assert make_store(tmp_path).read() is first  # cached per process, not per store object
    add_chunks(store, [2])
    assert store.read() is not first and store.read().version == 2
    assert first.version == 1 and len(first.vectors) == 1  # readers' snapshots are never mutated


def test_a_failing_write_block_commits_nothing(tmp_path):
    store = make_store(tmp_path)
    add_chunks(store, [1])

    def failing_change():
        with store.write() as indexes:
            indexes.vectors.remove([1])
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        failing_change()
    assert store.current_version() == 1 and live_ids(store) == [1]


@pytest.mark.parametrize(
    ("message", "number"),
    [("No space left on device", errno.ENOSPC), ("Input/output error", errno.EIO)],
)
def test_a_full_or_failing_disk_is_a_transient_oserror_that_leaves_the_live_version_and_no_file(
    tmp_path, monkeypatch, message, number
):
    """FAISS says a failed write with a RuntimeError; the store says it as the OSError it is (the
    caller retries disk errors), keeps CURRENT on the live version and removes what it half wrote."""
    import faiss

    store = make_store(tmp_path)
    add_chunks(store, [1])
    before = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*") if p.name != ".lock")
    real_write = faiss.write_index

    def disk_fails(index, path):
        Path(path).write_bytes(b"partial")  # what a full disk leaves: part of the file
        raise RuntimeError(f"Error in faiss::FileIOWriter: fwrite failed: {message}")

    monkeypatch.setattr(faiss, "write_index", disk_fails)
    with pytest.raises(OSError, match="while writing an index") as raised:
        add_chunks(store, [2])
    assert raised.value.errno == number
    assert store.current_version() == 1 and live_ids(store) == [1]
    after = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*") if p.name != ".lock")
    assert after == before  # no half-written version, no temp file

    monkeypatch.setattr(faiss, "write_index", real_write)  # space freed: the retry commits
    assert add_chunks(store, [2]) == 2 and live_ids(store) == [1, 2]


def test_rebuild_replaces_everything_and_migrates_the_model(tmp_path):
    store = make_store(tmp_path)
    add_chunks(store, [1, 2, 3])
    other = TenantIndexStore(tmp_path, TENANT, dimension=DIMENSION * 2, model_id="new-model@2")
    with pytest.raises(IndexMismatchError, match="rebuild"):
        other.read()
    ids = np.array([7, 8], dtype=np.int64)
    version = other.rebuild(ids, unit_vectors(ids, dimension=DIMENSION * 2), [doc_text(7), doc_text(8)])
    assert version == 2
    indexes = other.read()
    assert indexes.vectors.model_id == "new-model@2" and sorted(indexes.bm25.ids().tolist()) == [7, 8]


def test_old_versions_are_pruned(tmp_path):
    store = make_store(tmp_path, keep_versions=3)
    for id_ in range(6):
        add_chunks(store, [id_])
    assert sorted(p.name for p in store.directory.glob("v*")) == [f"v{v:010d}" for v in (4, 5, 6)]


@pytest.mark.parametrize("tenant", ["", "../etc", "a/b", "x" * 129, "t.1"])
def test_tenant_keys_cannot_escape_the_base_directory(tmp_path, tenant):
    with pytest.raises(ValueError, match="tenant key"):
        TenantIndexStore(tmp_path, tenant, dimension=DIMENSION, model_id=MODEL_ID)


def test_a_second_writer_waits_for_the_lock_and_can_time_out(tmp_path):
    store = make_store(tmp_path)
    impatient = make_store(tmp_path, lock_timeout_s=0.2)
    with store.write(), pytest.raises(IndexLockTimeout), impatient.write():
        pass


def test_concurrent_writers_in_two_processes_lose_no_update(tmp_path):
    ids_a, ids_b = list(range(100, 110)), list(range(200, 210))
    processes = [SPAWN.Process(target=writer_process, args=(str(tmp_path), ids)) for ids in (ids_a, ids_b)]
    for process in processes:
        process.start()
    for process in processes:
        process.join(timeout=120)
        assert process.exitcode == 0
    store = make_store(tmp_path)
    assert store.current_version() == 20
    assert live_ids(store) == ids_a + ids_b


def test_a_reader_in_another_process_sees_new_versions_without_restart(tmp_path):
    store = make_store(tmp_path)
    add_chunks(store, [1])
    commands, results = SPAWN.Queue(), SPAWN.Queue()
    reader = SPAWN.Process(target=reader_process, args=(str(tmp_path), commands, results))
    reader.start()
    try:
        commands.put("read")
        version, ids, first_object = results.get(timeout=60)
        assert (version, ids) == (1, [1])
        commands.put("read")
        assert results.get(timeout=60) == (1, [1], first_object)  # unchanged: served from its cache
        add_chunks(store, [2])
        commands.put("read")
        version, ids, _ = results.get(timeout=60)
        assert (version, ids) == (2, [1, 2])
    finally:
        commands.put("stop")
        reader.join(timeout=60)


@pytest.mark.parametrize("crash_at", ["vectors.faiss", "bm25.npz", "bm25.json", "CURRENT"])
def test_a_writer_crashing_before_replace_leaves_the_old_version_live(tmp_path, crash_at):
    store = make_store(tmp_path)
    add_chunks(store, [1, 2])
    assert run(crashing_writer_process, str(tmp_path), crash_at) == 3
    assert store.current_version() == 1 and live_ids(store) == [1, 2]
    assert add_chunks(store, [3]) == 2  # the next writer cleans up and carries on
    assert live_ids(store) == [1, 2, 3]
    assert not list(store.directory.glob(".*.tmp"))
