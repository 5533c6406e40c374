"""How well does a latency table predict whole networks? For each space: measure a table
(`samplenas.hardware.measure_table`, whose correction is fitted on its own --calibrate random
networks), then time --networks other random networks end to end and compare.

Reported per space, as nn-Meter reports: R^2, RMSE (ms) and the share of networks predicted within
+-10 % of their measured latency, for
  sum          the plain sum of the blocks and the fixed parts (no correction);
  table        the table's correction, scale * sum, the scale fitted on the calibration networks (none
               of which is among the validation networks);
  table_line   a line a * sum + b fitted on the same calibration networks (the correction of version 1
               tables), to judge the scale against it on networks neither was fitted on;
  split_scale  a scale fitted on the first half of the validation networks, scored on the second;
  split        as split_scale, with a line a * sum + b;
  count        as split, with a per-block term: measured ~ a * sum + c * blocks + b (is the miss a fixed
               cost per block, i.e. the framework's per-call overhead between blocks?);
  resampled    the scale against the line over many fits: each fitted on --calibrate validation networks
               drawn at random (as a table's calibration is) and scored on the others; mean and worst
               decile of R^2 over 1000 draws, since one noisy calibration decides little.
Also: the measured / sum ratio (where the sum of blocks misses) and the noise of the measurements (the
spread of a network's round medians). Writes OUT_JSON and OUT_PNG (predicted vs measured).

    flock /tmp/heavy.lock python tools/latency_validate.py                 # the four spaces, 60 networks each
    python tools/latency_validate.py --networks 6 --spaces nb101 --json /tmp/v.json --png /tmp/v.png  # smoke
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import torch

from samplenas.hardware.latency import LatencyModel, fit_scale, measure_table
from samplenas.hardware.timing import Protocol, forward_call, time_rounds
from samplenas.plotting import pyplot, save_figure
from samplenas.strict_json import dumps
from samplenas.supernet.factory import make_supernet

NETWORKS = {  # small sizes, so that a shared CPU times hundreds of networks in minutes
    "nb101": {"stem_channels": 16, "num_stacks": 3, "cells_per_stack": 1, "image_size": 32},
    "nasnet": {"C": 8, "layers": 5, "image_size": 32},
    "shufflenet": {"stage_channels": [24, 48, 96, 192], "stem_channels": 16, "last_channels": 256, "image_size": 32},
    "autoencoder": {"image_size": 16, "max_layers": 6},
}


def metrics(predicted, measured) -> dict:
    p, m = np.asarray(predicted, dtype=float), np.asarray(measured, dtype=float)
    residual = m - p
    total = float(np.sum((m - m.mean()) ** 2))
    return {
        "r2": 1.0 - float(np.sum(residual**2)) / total if total > 0 else None,
        "rmse_ms": float(np.sqrt(np.mean(residual**2))),
        "within_10pct": float(np.mean(np.abs(residual) <= 0.1 * m)),
        "n": int(len(m)),
    }


def fit_line(sums, measured) -> tuple[float, float]:
    """(a, b) of `measured ~ a * sums + b` by least squares."""
    a, b = np.polyfit(np.asarray(sums, dtype=float), np.asarray(measured, dtype=float), 1)
    return float(a), float(b)


def resampled(sums, measured, fit_on: int, draws: int = 1000, seed: int = 0) -> dict:
    """R^2 on held-out networks of a scale and of a line fitted on `fit_on` random networks, over `draws` draws."""
    x, y = np.asarray(sums, dtype=float), np.asarray(measured, dtype=float)
    rng = np.random.default_rng(seed)
    scores = {"scale": [], "line": []}
    for _ in range(draws):
        order = rng.permutation(len(x))
        fit, held = order[:fit_on], order[fit_on:]
        a, b = fit_line(x[fit], y[fit])
        scores["scale"].append(metrics(fit_scale(x[fit], y[fit]) * x[held], y[held])["r2"])
        scores["line"].append(metrics(a * x[held] + b, y[held])["r2"])
    scale, line = np.asarray(scores["scale"]), np.asarray(scores["line"])
    summary = {name: {"r2_mean": float(np.mean(v)), "r2_p10": float(np.quantile(v, 0.1))}
               for name, v in (("scale", scale), ("line", line))}
    return {"fit_on": fit_on, "draws": draws, **summary, "scale_better": float(np.mean(scale > line))}


def validate_space(space: str, networks: int, protocol: Protocol, calibrate: int, seed: int) -> dict:
    started = time.time()
    table = measure_table(space, NETWORKS[space], 1, "cpu", protocol, calibrate=calibrate, seed=seed + 1,
                          log=lambda line: print(line, flush=True))
    model = LatencyModel(table)
    supernet = make_supernet(space, table["network"])
    rng = np.random.default_rng(seed)
    archs, seen = [], set()
    while len(archs) < networks:  # distinct networks
        arch = model.space.sample(rng)
        if model.space.key(arch) not in seen:
            seen.add(model.space.key(arch))
            archs.append(arch)
    shape = tuple(supernet.input_shape)
    print(f"{space}: timing {networks} validation networks", flush=True)
    cpu = torch.device("cpu")
    calls = {str(i): forward_call(supernet.build(arch), [shape], 1, cpu) for i, arch in enumerate(archs)}
    rounds = time_rounds(calls, protocol, cpu)
    measured = [min(rounds[str(i)]) for i in range(networks)]
    spread = [(max(rounds[str(i)]) - min(rounds[str(i)])) / min(rounds[str(i)]) for i in range(networks)]
    sums = [model.block_sum(arch) for arch in archs]
    predicted = [model.predict(arch) for arch in archs]
    calibration = table["correction"]
    line = fit_line(calibration["sum_ms"], calibration["measured_ms"])
    half = networks // 2
    split_scale = fit_scale(sums[:half], measured[:half])
    split_line = fit_line(sums[:half], measured[:half])
    counts = [len(model.spec.arch_blocks(arch)) for arch in archs]
    features = np.c_[sums, counts, np.ones(networks)]
    coef, *_ = np.linalg.lstsq(features[:half], np.asarray(measured[:half]), rcond=None)
    count_pred = features[half:] @ coef
    ratio = [m / s for m, s in zip(measured, sums)]
    result = {
        "space": space, "network": table["network"], "blocks": len(table["blocks"]),
        "fixed_ms": sum(table["fixed"].values()),
        "correction": {k: calibration[k] for k in ("scale", "networks")},
        "line_correction": {"scale": line[0], "offset_ms": line[1], "fitted_on": calibration["networks"]},
        "split_correction": {"scale": split_scale, "fitted_on": half},
        "split_line": {"scale": split_line[0], "offset_ms": split_line[1], "fitted_on": half},
        "sum": metrics(sums, measured), "table": metrics(predicted, measured),
        "table_line": metrics([line[0] * s + line[1] for s in sums], measured),
        "split_scale": metrics([split_scale * s for s in sums[half:]], measured[half:]),
        "split": metrics([split_line[0] * s + split_line[1] for s in sums[half:]], measured[half:]),
        "count": metrics(count_pred, measured[half:]),
        "resampled": resampled(sums, measured, min(calibrate, networks - 2), seed=seed),
        "count_fit": {"scale": float(coef[0]), "ms_per_block": float(coef[1]), "offset_ms": float(coef[2])},
        "blocks_per_network": {"min": min(counts), "max": max(counts)},
        "measured_over_sum": {"median": statistics.median(ratio), "min": min(ratio), "max": max(ratio)},
        "round_spread": {"median": statistics.median(spread), "p90": float(np.quantile(spread, 0.9))},
        "measured_ms": {"median": statistics.median(measured), "min": min(measured), "max": max(measured)},
        "points": [{"arch": model.space.to_str(a), "sum_ms": s, "predicted_ms": p, "measured_ms": m}
                   for a, s, p, m in zip(archs, sums, predicted, measured)],
        "seconds": time.time() - started,
    }
    return result


def plot(results: list[dict], path: Path) -> None:
    plt = pyplot()
    fig, axes = plt.subplots(1, len(results), figsize=(4.2 * len(results), 4.2), squeeze=False)
    for ax, result in zip(axes[0], results):
        measured = [p["measured_ms"] for p in result["points"]]
        sums = [p["sum_ms"] for p in result["points"]]
        ax.scatter(measured, sums, s=10, marker="x", color="0.6", label="sum of blocks")
        ax.scatter(measured, [p["predicted_ms"] for p in result["points"]], s=12, label="table's prediction")
        low, high = min(measured) * 0.8, max(measured) * 1.2
        ax.plot([low, high], [low, high], "k-", lw=0.8)
        ax.fill_between([low, high], [low * 0.9, high * 0.9], [low * 1.1, high * 1.1], color="0.9", label="±10 %")
        t = result["table"]
        ax.set_title(f"{result['space']}: R²={t['r2']:.2f}, ±10 %: {t['within_10pct']:.0%}", fontsize=10)
        ax.set_xlabel("measured latency (ms)")
        ax.set_ylabel("predicted (ms)")
        ax.legend(fontsize=7, loc="upper left")
    fig.tight_layout()
    save_figure(fig, path, dpi=110)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--spaces", nargs="+", default=list(NETWORKS), choices=list(NETWORKS))
    parser.add_argument("--networks", type=int, default=60, help="validation networks per space (default: 60)")
    parser.add_argument("--calibrate", type=int, default=10,
                        help="calibration networks of each table, at least 2 (default: 10)")
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", type=Path, default=Path("docs/data/latency_validation.json"))
    parser.add_argument("--png", type=Path, default=Path("docs/latency_validation.png"))
    args = parser.parse_args(argv)
    if args.calibrate < 2 or args.networks < 4:
        parser.error("--calibrate needs at least 2 networks (a line is fitted on them) and --networks at least 4")
    load_before = os.getloadavg()
    torch.set_num_threads(args.threads)
    protocol = Protocol(args.warmup, args.repeats, args.rounds)
    results = [validate_space(space, args.networks, protocol, args.calibrate, args.seed) for space in args.spaces]
    print(f"\n{'space':12} {'fit':11} {'R2':>6} {'RMSE ms':>8} {'±10%':>6}   measured/sum  round spread")
    for r in results:
        for name in ("sum", "table", "table_line", "split_scale", "split", "count"):
            m = r[name]
            ratio = r["measured_over_sum"]
            extra = (f"   {ratio['median']:.2f} [{ratio['min']:.2f}, {ratio['max']:.2f}]  "
                     f"{r['round_spread']['median']:.1%}") if name == "sum" else ""
            print(f"{r['space']:12} {name:11} {m['r2']:6.3f} {m['rmse_ms']:8.3f} {m['within_10pct']:6.0%}{extra}")
    report = {
        "command": "python " + " ".join(["tools/latency_validate.py", *(argv if argv is not None else sys.argv[1:])]),
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "machine": {"cpu": results and results[0] and _cpu(), "cores": os.cpu_count(),
                    "python": platform.python_version(), "torch": torch.__version__, "threads": args.threads,
                    "load_average_1_5_15min": {"before": list(load_before), "after": list(os.getloadavg())}},
        "protocol": protocol.describe(), "results": results,
    }
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(dumps(report, indent=1) + "\n")
    args.png.parent.mkdir(parents=True, exist_ok=True)
    plot(results, args.png)
    print(f"\n{'space':12} resampled R2 (fit on --calibrate, scored on the rest): mean, worst decile")
    for r in results:
        s, line = r["resampled"]["scale"], r["resampled"]["line"]
        print(f"{r['space']:12} scale {s['r2_mean']:7.3f} {s['r2_p10']:7.3f}   line {line['r2_mean']:7.3f} "
              f"{line['r2_p10']:7.3f}   scale better in {r['resampled']['scale_better']:.0%}")
    print(f"wrote {args.json} and {args.png}")
    return 0


def _cpu() -> str:
    from samplenas.hardware.latency import device_description

    return device_description(torch.device("cpu"))["name"]


if __name__ == "__main__":
    sys.exit(main())
