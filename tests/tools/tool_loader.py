"""Loads a script of tools/ as a module: the one way the tests of the tools do it."""

import importlib.util
import sys
from pathlib import Path

TOOLS = Path(__file__).resolve().parents[2] / "tools"


def load_tool(name: str):
    """tools/<name>.py executed afresh as the module `name`, registered in sys.modules (a tool's worker processes
    find its functions by the module's name) with tools/ on sys.path (a tool may import another)."""
    if str(TOOLS) not in sys.path:
        sys.path.insert(0, str(TOOLS))
    spec = importlib.util.spec_from_file_location(name, TOOLS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module
