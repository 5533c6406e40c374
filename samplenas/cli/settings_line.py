"""The line a command that reads a run (`--from`) prints before it starts, so that which data and
network it took, and from where, is never a surprise."""

from __future__ import annotations

import json


def settings_line(command: str, data: str, data_dir: str | None, network: dict, source, given: list[str]) -> str:
    """`COMMAND: using data=… data_dir=… network={…} from SOURCE (FLAGS as given)`; `given`: the flags that
    set some of them instead of the run."""
    line = f"{command}: using data={data} data_dir={data_dir} network={json.dumps(network)} from {source}"
    return line + (f" ({', '.join(given)} as given)" if given else "")
