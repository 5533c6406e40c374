"""Object-store cost of passing data by reference: bytes put once per search vs bytes sent per task.

For a data set, serialises (pickle protocol 5, as Ray does) what each search puts into the object store
once -- evolve's and PBT's `LoadedData` (uint8 images), Deep-n-Cheap's normalised float tensors -- and
what travels with every task: an evolve candidate's payload, a DnC configuration's payload, and a PBT
member's state (sent in, and returned). Prints one JSON line per item and a markdown table.

    python tools/object_store_cost.py --data mnist --data-dir /work/shared/data
"""

from __future__ import annotations

import argparse
import json
import os
import pickle
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]


def size(value) -> int:
    return len(pickle.dumps(value, protocol=5))


def main() -> None:
    from samplenas.population.candidate import CandidateSettings, payload
    from samplenas.population.dnc_eval import data_tensors
    from samplenas.population.pbt_member import build_member, initial_state
    from samplenas.supernet.factory import make_supernet, network_settings
    from samplenas.training.fit import load_data
    from samplenas.training.recipes import resolve_recipe

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", default="mnist")
    parser.add_argument("--data-dir", default=os.environ.get("SAMPLENAS_DATA", str(REPO.parent / "shared" / "data")))
    parser.add_argument("--limit", type=int, default=None)
    args = parser.parse_args()
    recipe = resolve_recipe("autoencoder", {"task": "denoising", "network": {"max_layers": 10, "num_reductions": 2}})
    meta = {"data": args.data, "data_dir": args.data_dir, "val_fraction": 0.1, "seed": 0, "limit": args.limit,
            "recipe": recipe.to_dict()}
    data = load_data(meta, ("train", "val", "test"))
    settings = CandidateSettings("autoencoder", args.data, recipe.to_dict(), args.data_dir, 0, args.limit)
    net_settings = network_settings("autoencoder", recipe.network, data.info)
    space = make_supernet("autoencoder", net_settings).space
    arch = space.sample(np.random.default_rng(0))
    job = {"space": "autoencoder", "settings": net_settings, "recipe": recipe.to_dict(), "seed": 0}
    dnc = data_tensors({"name": args.data, "data_dir": args.data_dir, "limit": args.limit, "val_fraction": 0.1,
                        "seed": 0})
    start = initial_state(job, arch, 0)
    net, optimizer = build_member(job, arch, start)
    x, _ = data.train.batch(range(8))
    net(x).square().mean().backward()
    optimizer.step()  # the optimiser state a returned member carries
    end = {**start, "model": net.state_dict(), "optimizer": optimizer.state_dict()}
    rows = [
        ("evolve / pbt: the data set (LoadedData, uint8)", "once per search", size(data)),
        ("dnc: the data set (normalised float32 tensors)", "once per search", size(dnc)),
        ("evolve: a candidate's payload", "per task", size(payload(settings, space.to_str(arch)))),
        ("pbt: a member's first state (weights)", "per task, in", size(start)),
        ("pbt: a member's state after training (weights, Adam's two moments)", "per task, in and out", size(end)),
    ]
    for what, when, nbytes in rows:
        print(json.dumps({"what": what, "when": when, "bytes": nbytes}))
    print(f"\n{args.data} (limit {args.limit}):\n\n| what | sent | bytes |\n|---|---|---:|")
    for what, when, nbytes in rows:
        print(f"| {what} | {when} | {nbytes:,} |")


if __name__ == "__main__":
    main()
