"""`samplenas --help` and every command's `--help` must not import the heavy libraries: building the
parser has to stay fast (<= 0.5 s), so commands import torch, ray, botorch, ... inside their function.

The checks run fresh interpreters: the test process itself has torch loaded already (conftest), so it
cannot tell. New commands are covered automatically: the list comes from walking the real parser.
"""

from __future__ import annotations

import json
import subprocess
import sys

from samplenas.cli import build_parser, walk

# Heavy at import time (seconds for torch, ~0.3 s for numpy on a busy 2-core machine); none of them is
# needed to print help.
HEAVY = ("torch", "torchvision", "ray", "botorch", "gpytorch", "matplotlib", "numpy", "scipy", "h5py",
         "sklearn", "tensorboard", "onnx", "onnxscript", "tqdm")

# Prints every command's --help in one interpreter (each ends in SystemExit), then the modules loaded.
HELP_OF_EVERY_COMMAND = """
import contextlib, io, json, sys
from samplenas.cli import build_parser, walk
for words, _ in list(walk(build_parser())):
    with contextlib.redirect_stdout(io.StringIO()) as out, contextlib.suppress(SystemExit):
        build_parser().parse_args([*words, "--help"])
    assert "usage: samplenas" in out.getvalue(), words
print(json.dumps(sorted({name.split(".")[0] for name in sys.modules})))
"""


def run_python(*argv: str) -> subprocess.CompletedProcess:
    proc = subprocess.run([sys.executable, *argv], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return proc


def importtime_modules(stderr: str) -> set[str]:
    """Top-level names of the modules listed by `python -X importtime` (on stderr)."""
    return {line.rsplit("|", 1)[1].strip().split(".")[0] for line in stderr.splitlines()
            if line.startswith("import time:") and "imported package" not in line}


def test_samplenas_help_imports_no_heavy_library():
    modules = importtime_modules(run_python("-X", "importtime", "-m", "samplenas", "--help").stderr)
    assert {"samplenas", "argparse"} <= modules  # the listing was read
    assert not modules.intersection(HEAVY), f"`samplenas --help` imports {sorted(modules.intersection(HEAVY))}"


def test_every_commands_help_imports_no_heavy_library():
    commands = [words for words, _ in walk(build_parser())]
    assert ("train",) in commands and ("nb101", "study") in commands  # the walk reaches nested commands
    modules = set(json.loads(run_python("-c", HELP_OF_EVERY_COMMAND).stdout))
    assert "samplenas" in modules
    heavy = sorted(modules.intersection(HEAVY))
    assert not heavy, f"building the parser or printing a command's help imports {heavy}: import inside the command"


def test_the_checks_see_a_heavy_import():
    """Both readings do catch torch when a module imports it (one interpreter, read both ways)."""
    script = HELP_OF_EVERY_COMMAND.replace("import contextlib", "import samplenas.training.optimizers, contextlib")
    proc = run_python("-X", "importtime", "-c", script)
    assert "torch" in importtime_modules(proc.stderr)
    assert "torch" in json.loads(proc.stdout)
