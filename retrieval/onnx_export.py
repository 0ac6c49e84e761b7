"""Build the ONNX files of the packaged embedding model, once, into a cache folder.

The recipe: export the Hugging Face BERT encoder plus mean pooling and L2 normalisation (what the
sentence-transformers modules.json does), with the token vectors as a second output, with torch's
TorchScript exporter; fuse attention, GELU and layer norms with ONNX Runtime's transformer
optimizer; for int8, quantise weights dynamically per channel. Files are keyed by the hash of the
packaged weights and written atomically.

A recipe may keep each residual Add + LayerNormalization apart instead of fusing them into
SkipLayerNormalization: ONNX Runtime's CPU kernel for that fused op is about 3x slower than the two
plain ones (19 ms against 7 ms on a 32 x 256 x 384 batch, one thread, onnxruntime 1.31), ~10% of an
int8 batch; the bias Add then goes into the preceding int8 matrix product instead. Such a recipe
must also turn off ONNX Runtime's own SkipLayerNormFusion when the session opens
(``session_disabled_optimizers``), or it fuses them again.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import tempfile
import time
import warnings
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from retrieval.persist import file_sha256

logger = logging.getLogger(__name__)

RECIPE_VERSION = 2  # bump when the export or quantisation changes: old files are then ignored
# (2: the token vectors became a second output, for late interaction)
OPSET = 17


@dataclass(frozen=True)
class QuantRecipe:
    """Options for onnxruntime.quantization.quantize_dynamic (None: keep fp32)."""

    weight_type: str = "QUInt8"  # QInt8 or QUInt8
    per_channel: bool = True
    reduce_range: bool = False
    # Regexes of node names kept in fp32 (the FFN output projection is the most sensitive).
    keep_fp32: tuple[str, ...] = field(default_factory=tuple)
    # Fuse residual Add + LayerNormalization into SkipLayerNormalization (see the module docstring).
    skip_layer_norm: bool = True


VARIANTS: dict[str, QuantRecipe | None] = {
    "fp32": None,
    "int8": QuantRecipe(weight_type="QInt8", per_channel=True, reduce_range=True),
    "int8-ffnout-fp32": QuantRecipe(
        weight_type="QInt8", per_channel=True, reduce_range=True, keep_fp32=(r"layer\.\d+/output/dense",)
    ),
    "int8-u8": QuantRecipe(weight_type="QUInt8", per_channel=True),
    "int8-addln": QuantRecipe(
        weight_type="QInt8", per_channel=True, reduce_range=True, skip_layer_norm=False
    ),
}

# ONNX Runtime's own fusion that would turn Add + LayerNormalization back into SkipLayerNormalization.
SKIP_LAYER_NORM_FUSION = "SkipLayerNormFusion"


def session_disabled_optimizers(variant: str) -> list[str]:
    """The ONNX Runtime graph optimizers a session of ``variant`` must run without."""
    recipe = VARIANTS[variant]
    return [] if recipe is None or recipe.skip_layer_norm else [SKIP_LAYER_NORM_FUSION]


def onnx_model_path(model_dir: Path, cache_dir: Path, variant: str) -> Path:
    """Where the ONNX file of ``variant`` for the weights in ``model_dir`` lives.

    The folder is keyed by the weights' hash, the file by the variant and a hash of its recipe, so a
    changed recipe never reuses a stale file.
    """
    key = file_sha256(model_dir / "model.safetensors")[:16]
    recipe = VARIANTS[variant]
    spec = json.dumps({"recipe_version": RECIPE_VERSION, "recipe": asdict(recipe) if recipe else None})
    recipe_key = hashlib.sha256(spec.encode()).hexdigest()[:8]
    return cache_dir / f"all-MiniLM-L6-v2-{key}" / f"model-{variant}-{recipe_key}.onnx"


def build_onnx_model(model_dir: Path, cache_dir: Path, variant: str) -> Path:
    """The path of a ready ONNX file for ``variant``; builds it (seconds) the first time."""
    target = onnx_model_path(model_dir, cache_dir, variant)
    if target.is_file():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    with tempfile.TemporaryDirectory(dir=target.parent, prefix=".build-") as tmp:
        work = Path(tmp)
        fused = work / "fused.onnx"
        _export(model_dir, work / "raw.onnx")
        recipe = VARIANTS[variant]
        _fuse(work / "raw.onnx", fused, model_dir, skip_layer_norm=recipe is None or recipe.skip_layer_norm)
        final = fused if recipe is None else work / "quantized.onnx"
        if recipe is not None:
            _quantize(fused, final, recipe)
        seconds = round(time.monotonic() - started, 1)
        manifest = {
            "variant": variant,
            "recipe": asdict(recipe) if recipe else None,
            "build_seconds": seconds,
        }
        (work / "manifest.json").write_text(json.dumps(manifest, indent=2))
        os.replace(work / "manifest.json", target.with_suffix(".json"))
        os.replace(final, target)  # last, atomically: its presence means "ready"
    logger.info("built ONNX embedding model %s in %.1fs", target, seconds)
    return target


def _export(model_dir: Path, out: Path) -> None:
    import torch
    from transformers import AutoModel

    class Pooled(torch.nn.Module):
        """Encoder + masked mean pooling + L2 normalisation, as the sentence-transformers pipeline;
        the token vectors (last hidden states) too, for late interaction."""

        def __init__(self, encoder: Any) -> None:
            super().__init__()
            self.encoder = encoder

        def forward(
            self, input_ids: torch.Tensor, attention_mask: torch.Tensor
        ) -> tuple[torch.Tensor, torch.Tensor]:
            hidden = self.encoder(
                input_ids=input_ids, attention_mask=attention_mask, token_type_ids=torch.zeros_like(input_ids)
            ).last_hidden_state
            mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
            mean = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
            return torch.nn.functional.normalize(mean, p=2.0, dim=1), hidden

    encoder = AutoModel.from_pretrained(str(model_dir), attn_implementation="eager", local_files_only=True)
    module = Pooled(encoder).eval()
    dummy = torch.ones((2, 16), dtype=torch.int64)
    axes = {"input_ids": {0: "batch", 1: "sequence"}, "attention_mask": {0: "batch", 1: "sequence"}}
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")  # the TorchScript exporter's deprecation and tracer notes
        torch.onnx.export(
            module,
            (dummy, dummy),
            str(out),
            input_names=["input_ids", "attention_mask"],
            output_names=["embedding", "tokens"],
            dynamic_axes={**axes, "embedding": {0: "batch"}, "tokens": {0: "batch", 1: "sequence"}},
            opset_version=OPSET,
            dynamo=False,
        )


def _fuse(src: Path, out: Path, model_dir: Path, *, skip_layer_norm: bool) -> None:
    from onnxruntime.transformers import optimizer
    from onnxruntime.transformers.fusion_options import FusionOptions

    config = json.loads((model_dir / "config.json").read_text())
    options = FusionOptions("bert")
    options.enable_skip_layer_norm = skip_layer_norm
    options.enable_bias_skip_layer_norm = skip_layer_norm
    fused = optimizer.optimize_model(
        str(src),
        model_type="bert",
        num_heads=int(config["num_attention_heads"]),
        hidden_size=int(config["hidden_size"]),
        opt_level=1,
        optimization_options=options,
    )
    fused.save_model_to_file(str(out))


def _quantize(src: Path, out: Path, recipe: QuantRecipe) -> None:
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    model = onnx.load(str(src), load_external_data=False)
    excluded = [
        node.name
        for node in model.graph.node
        if any(re.search(pattern, node.name) for pattern in recipe.keep_fp32)
    ]
    quantize_dynamic(
        str(src),
        str(out),
        weight_type=QuantType[recipe.weight_type],
        per_channel=recipe.per_channel,
        reduce_range=recipe.reduce_range,
        op_types_to_quantize=["MatMul", "Attention"],
        nodes_to_exclude=excluded,
        # the fused contrib ops defeat ONNX shape inference; their outputs are float
        extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT},
    )
