"""Export a trained network to a file that runs without samplenas: `export_model(source, format, out)`.

Formats:
- "exported-program": `torch.export` (load with `torch.export.load(f).module()`; needs only torch);
- "onnx": the maintained `torch.onnx.export(..., dynamo=True)` exporter (needs onnx and onnxscript to
  write; any ONNX runtime to run);
- "state-dict": the plain `state_dict()` (load with `torch.load(f, weights_only=True)`); running it
  needs the network's code, rebuilt from the printed space/arch/settings (`samplenas.load_model` does).

The batch dimension is exported as dynamic; the image size is the one the network was built for. The
first two formats carry the space, architecture and settings as metadata (an extra file
"samplenas.json" in the exported program, `metadata_props` in ONNX). Files are written atomically (a
temporary file renamed into place), and an existing file is only replaced when asked.
"""

from __future__ import annotations

import contextlib
import io
import warnings
from pathlib import Path

import torch

from samplenas.errors import UserError
from samplenas.strict_json import dumps
from samplenas.training.checkpoint import _atomic_write
from samplenas.training.models import LoadedModel, open_model

FORMATS = ("exported-program", "onnx", "state-dict")
EXAMPLE_BATCH = 2  # not 1, so the exporters do not specialise the batch dimension to a constant


def export_model(source, fmt: str, out, overwrite: bool = False, arch: str | None = None, member: int = 0,
                 data_dir: str | None = None, announce=None) -> dict:
    """Write the network at `source` (see `samplenas.training.models`) to `out` as `fmt`; returns a summary.
    `announce`: as `open_model`'s."""
    out = Path(out)
    if fmt not in FORMATS:
        raise UserError(f"unknown export format {fmt!r}; valid: {', '.join(FORMATS)}")
    if out.is_dir():
        raise UserError(f"--out {out} is a folder; give a file name")
    if out.exists() and not overwrite:
        raise UserError(f"{out} exists; pass --overwrite to replace it")
    if fmt == "onnx":
        _require_onnx()
    loaded = open_model(source, arch=arch, member=member, device="cpu", data_dir=data_dir, announce=announce)
    if loaded.arch is None:
        raise UserError(f"{source} is a supernet run: export its search's top.json, or choose an architecture (--arch)")
    meta = describe(loaded, fmt)
    example = torch.randn(EXAMPLE_BATCH, *loaded.input_shape)
    WRITERS[fmt](loaded, example, meta, out)
    return {"out": str(out), **meta}


def describe(loaded: LoadedModel, fmt: str) -> dict:
    """What the file holds, in JSON types (stored in the file where the format allows, and printed)."""
    return {
        "format": fmt, "space": loaded.space, "arch": loaded.arch, "settings": loaded.settings,
        "input_shape": ["batch", *loaded.input_shape], "kind": loaded.kind, "source": loaded.source,
        "params": sum(p.numel() for p in loaded.net.parameters()), "torch": torch.__version__,
        **({"score": loaded.score} if loaded.score is not None else {}),
    }


def _export(loaded: LoadedModel, example: torch.Tensor) -> torch.export.ExportedProgram:
    """The network traced by torch.export with a dynamic batch dimension (the ONNX exporter starts from it too)."""
    return torch.export.export(loaded.net, (example,), dynamic_shapes=({0: torch.export.Dim.AUTO},))


def _write_exported_program(loaded: LoadedModel, example: torch.Tensor, meta: dict, out: Path) -> None:
    program = _export(loaded, example)
    extra = {"samplenas.json": dumps(meta)}
    _atomic_write(out, lambda f: torch.export.save(program, f, extra_files=extra))


def _write_onnx(loaded: LoadedModel, example: torch.Tensor, meta: dict, out: Path) -> None:
    import onnx

    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
        warnings.simplefilter("ignore")  # the exporter narrates every stage; the summary is ours to print
        program = torch.onnx.export(_export(loaded, example), dynamo=True)
    model = program.model_proto
    for key, value in meta.items():
        entry = model.metadata_props.add()
        entry.key, entry.value = f"samplenas.{key}", dumps(value)
    onnx.checker.check_model(model)
    _atomic_write(out, lambda f: f.write(model.SerializeToString()))


def _write_state_dict(loaded: LoadedModel, example: torch.Tensor, meta: dict, out: Path) -> None:
    state = {name: tensor.detach().clone() for name, tensor in loaded.net.state_dict().items()}
    _atomic_write(out, lambda f: torch.save(state, f))


WRITERS = {
    "exported-program": _write_exported_program,
    "onnx": _write_onnx,
    "state-dict": _write_state_dict,
}


def _require_onnx() -> None:
    missing = [name for name in ("onnx", "onnxscript") if not _importable(name)]
    if missing:
        raise UserError(f"ONNX export needs {' and '.join(missing)}: pip install 'samplenas[export]'")


def _importable(name: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(name) is not None
