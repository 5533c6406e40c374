"""Wall time of `samplenas --help` and `samplenas train --help` (median of N fresh processes).

    python tools/bench_cli_startup.py [--repeats 5] [COMMAND ...]

Each run is a new interpreter (`python -m samplenas ... --help`), so the figure includes Python's own
start-up and every import the parser needs, which is what a user waits for.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time

DEFAULT_COMMANDS = ("", "train")


def wall_times(command: str, repeats: int) -> list[float]:
    """Seconds per fresh `python -m samplenas [command] --help`; fails loudly if the command fails."""
    argv = [sys.executable, "-m", "samplenas", *command.split(), "--help"]
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        subprocess.run(argv, check=True, stdout=subprocess.DEVNULL)
        times.append(time.perf_counter() - start)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("commands", nargs="*", default=DEFAULT_COMMANDS,
                        help="commands whose --help is timed ('' = the top level; default: top level and train)")
    parser.add_argument("--repeats", type=int, default=5, help="fresh processes per command (default 5)")
    args = parser.parse_args()
    for command in args.commands:
        times = wall_times(command, args.repeats)
        label = f"samplenas {command} --help".replace("  ", " ")
        print(f"{label:<32} median {statistics.median(times):.3f} s  "
              f"(min {min(times):.3f}, max {max(times):.3f}, n={len(times)})")


if __name__ == "__main__":
    main()
