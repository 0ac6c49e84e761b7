"""Assembling the local model's file from its packages: parts concatenated in order, kept only when
the sha256 matches (no file, not even a partial one, otherwise), reused once verified."""

from __future__ import annotations

import hashlib
import re
import uuid

import pytest

from assistant.answering.llm import local
from assistant.answering.llm.local import LocalModelSpec, LocalModelUnavailable, local_model_file

PARTS = [b"GGUF" + bytes(range(256)) * 40, b"second slice" * 1000, b"tail"]
WHOLE = b"".join(PARTS)


@pytest.fixture
def packages(tmp_path, monkeypatch):
    """Three tiny installed packages, each carrying one ``data/partNN.bin`` slice (unique names)."""
    root = tmp_path / "site"
    names = [f"tessera_fake_part{i}_{uuid.uuid4().hex[:8]}" for i in range(1, len(PARTS) + 1)]
    for i, (name, data) in enumerate(zip(names, PARTS, strict=True), start=1):
        (root / name / "data").mkdir(parents=True)
        (root / name / "__init__.py").write_text("")
        (root / name / "data" / f"part{i:02d}.bin").write_bytes(data)
    monkeypatch.syspath_prepend(str(root))
    return root, names


def _install(monkeypatch, names, *, sha256=None):
    spec = LocalModelSpec(
        name="fake-model",
        packages=tuple(names),
        size=len(WHOLE),
        sha256=sha256 or hashlib.sha256(WHOLE).hexdigest(),
        licence="test",
        upstream="test",
    )
    monkeypatch.setattr(local, "LOCAL_MODELS", {spec.name: spec})
    return spec


def test_the_parts_are_joined_in_order_verified_and_reused(packages, monkeypatch, tmp_path):
    root, names = packages
    spec = _install(monkeypatch, names)
    models = tmp_path / "models"

    path = local_model_file("fake-model", models)

    assert path == models / f"fake-model-{spec.sha256[:12]}.gguf" and path.read_bytes() == WHOLE
    assert sorted(p.name for p in models.iterdir()) == [path.name]  # no temporary file left
    (root / names[0] / "data" / "part01.bin").unlink()  # a verified file is not assembled again
    assert local_model_file("fake-model", models) == path


def test_a_wrong_sha256_raises_and_leaves_no_file(packages, monkeypatch, tmp_path):
    _, names = packages
    _install(monkeypatch, names, sha256="0" * 64)
    models = tmp_path / "models"
    with pytest.raises(LocalModelUnavailable, match="does not match the upstream file"):
        local_model_file("fake-model", models)
    assert list(models.iterdir()) == []


def test_parts_in_the_wrong_order_do_not_match(packages, monkeypatch, tmp_path):
    _, names = packages
    _install(monkeypatch, list(reversed(names)))
    with pytest.raises(LocalModelUnavailable, match="sha256"):
        local_model_file("fake-model", tmp_path / "models")


def test_a_file_of_the_wrong_size_is_assembled_again(packages, monkeypatch, tmp_path):
    _, names = packages
    spec = _install(monkeypatch, names)
    models = tmp_path / "models"
    models.mkdir()
    truncated = models / f"fake-model-{spec.sha256[:12]}.gguf"
    truncated.write_bytes(WHOLE[:100])  # an interrupted copy
    assert local_model_file("fake-model", models).read_bytes() == WHOLE


def test_a_missing_package_names_the_package_to_install(packages, monkeypatch, tmp_path):
    _, names = packages
    _install(monkeypatch, [*names, "tessera_fake_not_installed"])
    with pytest.raises(LocalModelUnavailable, match="needs the package tessera-fake-not-installed"):
        local_model_file("fake-model", tmp_path / "models")
    assert not (tmp_path / "models").exists()


def test_a_package_without_exactly_one_part_is_refused(packages, monkeypatch, tmp_path):
    root, names = packages
    (root / names[1] / "data" / "part99.bin").write_bytes(b"extra")
    _install(monkeypatch, names)
    with pytest.raises(LocalModelUnavailable, match=re.escape("should hold one data/partNN.bin, found 2")):
        local_model_file("fake-model", tmp_path / "models")


def test_an_unknown_model_lists_the_known_ones(tmp_path):
    with pytest.raises(LocalModelUnavailable, match=re.escape("known: qwen2.5-coder-0.5b")):
        local_model_file("gpt-5", tmp_path)
