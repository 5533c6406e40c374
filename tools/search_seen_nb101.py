"""What a search saw: every cell it kept, in its own order, judged by the NAS-Bench-101 table.

Reads the searches of end-to-end runs (`tools/e2e_nb101.py --out OUT --top 80 --rescore-top 0`: with --top as
large as the cells a search scores, top.json holds every cell it scored) and asks whether the search fell short
in exploring (it never scored a good cell) or in picking (it scored one and put another first): the best cell
each search kept and its place in the search's own order, the table accuracy by place (mean over searches, in
bands), how well the search's order ranks its own cells (Kendall tau), and how many searches kept a cell in the
table's top 2 %. A re-scored search is read in the order it had before re-scoring, and its pick's gap to the
table's best cell is split in three: exploring (the best cell it scored is below the table's best), keeping (a
better cell was scored than any of the finalists it re-scored) and picking (a better finalist than the one the
re-scoring put first).

  python tools/search_seen_nb101.py --out runs/seen --searches runs/top80-o0 runs/top80-o100
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from e2e_nb101 import DATA, TOP_2_PERCENT, open_table  # noqa: E402
from finalists_nb101 import own_order, refuse_empty_searches, search_tops  # noqa: E402

BANDS = ((1, 1), (1, 10), (11, 20), (21, 40), (41, None))  # places in the search's order, 1-based and inclusive


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--out", type=Path, required=True, help="folder for search_seen.json and search_seen.png")
    p.add_argument("--searches", nargs="+", type=Path, required=True, metavar="E2E_OUT",
                   help="folders of tools/e2e_nb101.py runs (SAMPLER-seedN/top.json; --top 80 keeps every cell)")
    p.add_argument("--table", default=str(DATA / "nasbench101" / "nb101_table_repeat0.npz"),
                   help="NB101 table: samplenas HDF5, or the npz it converts from")
    args = p.parse_args(argv)
    refuse_empty_searches(p, args.searches)
    return args


def seen(accuracy: np.ndarray) -> dict:
    """One search's cells by the table, in its own order: the best, its place, and the order's Kendall tau."""
    from scipy.stats import kendalltau

    tau = kendalltau(-np.arange(len(accuracy)), accuracy)[0] if len(accuracy) > 1 else float("nan")
    return {"kept": len(accuracy), "first": float(accuracy[0]), "best": float(accuracy.max()),
            "best_place": int(np.argmax(accuracy)) + 1, "tau": None if np.isnan(tau) else float(tau)}


def gap(accuracy: np.ndarray, finalists: int, pick: float, table_best: float) -> dict:
    """Where a re-scored search's pick (table accuracy `pick`) loses to the table's best cell, in points: the
    search's cells in its own order, of which the first `finalists` were re-scored."""
    scored, kept = float(accuracy.max()), float(accuracy[:finalists].max())
    return {"exploring": table_best - scored, "keeping": scored - kept, "picking": kept - pick}


def mean_gap(gaps: list[dict]) -> dict | None:
    """The three parts of the gap, each averaged over the re-scored searches (None: no search was re-scored)."""
    if not gaps:
        return None
    return {"searches": len(gaps), **{part: round(float(np.mean([g[part] for g in gaps])), 3) for part in gaps[0]}}


def bands(searches: list[np.ndarray]) -> dict:
    """Mean table accuracy of the cells at each band of places, over the searches that kept that band."""
    out = {}
    for low, high in BANDS:
        values = [float(np.mean(a[low - 1:high])) for a in searches if len(a) >= low]
        if values:
            out[str(low) if high == low else f"{low}-{high or 'last'}"] = round(float(np.mean(values)), 3)
    return out


def plot(searches: list[np.ndarray], rows: list[dict], path: Path) -> None:
    """Table accuracy against place in the search's order: every search's cells faint, their mean by place, each
    search's best marked; the table's top 2 % as a line."""
    from samplenas.plotting import pyplot, save_figure

    plt = pyplot()
    fig, ax = plt.subplots(figsize=(7.5, 4.6))
    for accuracy in searches:
        ax.plot(np.arange(1, len(accuracy) + 1), accuracy, color="C0", alpha=0.12, lw=0.8)
    longest = max(len(a) for a in searches)
    mean = [np.mean([a[i] for a in searches if len(a) > i]) for i in range(longest)]
    ax.plot(np.arange(1, longest + 1), mean, color="C0", lw=2, label=f"mean over {len(searches)} searches")
    ax.scatter([r["best_place"] for r in rows], [r["best"] for r in rows], color="C3", s=22, zorder=3,
               label="each search's best cell")
    ax.axhline(TOP_2_PERCENT, color="green", ls=":", lw=1, label=f"table's top 2 % ({TOP_2_PERCENT} %)")
    highest = max(max(r["best"] for r in rows), TOP_2_PERCENT)
    ax.set_ylim(max(80.0, min(float(np.min(a)) for a in searches) - 0.5), highest + 0.6)
    ax.set_xlabel("place in the search's own order (1: its pick)")
    ax.set_ylabel("table test accuracy (%)")
    ax.set_title("what each search scored, in its own order")
    ax.legend(fontsize=8, loc="lower left")
    fig.tight_layout()
    save_figure(fig, path)


def main(argv=None) -> int:
    args = parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    table = open_table(args.table, args.out)
    searches, rows = [], []
    table_best = 100 * table.top_k(1, repeat=0)[0][1]
    for top_json in search_tops(args.searches):
        written = json.loads(top_json.read_text())
        cells = [tuple(entry["encoding"]) for entry in own_order(written)]
        accuracy = 100 * table.values("test_accuracy", table.lookup_archs(cells), repeat=0)
        searches.append(accuracy)
        rows.append({"search": str(top_json.parent), **seen(accuracy)})
        rescored = written.get("rescored")
        if rescored and len(accuracy) > rescored["top"]:  # the finalists and cells beyond them: all three parts
            pick = accuracy[cells.index(tuple(written["top"][0]["encoding"]))]  # the re-scoring's first
            rows[-1]["gap"] = {part: round(points, 3) for part, points in
                               gap(accuracy, rescored["top"], float(pick), table_best).items()}
    best, places = np.array([r["best"] for r in rows]), np.array([r["best_place"] for r in rows])
    taus = [r["tau"] for r in rows if r["tau"] is not None]
    report = {"command": "python " + " ".join([sys.argv[0], *(argv if argv is not None else sys.argv[1:])]),
              "searches": len(rows), "kept": [min(r["kept"] for r in rows), max(r["kept"] for r in rows)],
              "by_place": bands(searches),
              "best": {"mean": round(float(best.mean()), 3),
                       "std": round(float(best.std(ddof=1)), 3) if len(best) > 1 else 0.0,
                       "lowest": round(float(best.min()), 2)},
              "best_place": {"median": float(np.median(places)), "within_10": int((places <= 10).sum()),
                             "within_20": int((places <= 20).sum()), "lowest": int(places.max())},
              "tau_within_search": {"mean": round(float(np.mean(taus)), 3), "min": round(float(np.min(taus)), 3),
                                    "max": round(float(np.max(taus)), 3)} if taus else None,
              "searches_with_a_top_2_percent_cell": int((best >= TOP_2_PERCENT).sum()),
              "table_best": round(table_best, 3), "gap": mean_gap([r["gap"] for r in rows if "gap" in r]),
              "rows": rows}
    (args.out / "search_seen.json").write_text(json.dumps(report, indent=1))
    plot(searches, rows, args.out / "search_seen.png")
    print(f"{report['searches']} searches keeping {report['kept'][0]}-{report['kept'][1]} cells each")
    print("table accuracy by place in the search's order: "
          + ", ".join(f"{band} {value:.2f} %" for band, value in report["by_place"].items()))
    b = report["best"]
    print(f"best kept: {b['mean']:.2f} ± {b['std']:.2f} % (lowest {b['lowest']:.2f}); in the table's top 2 % in "
          f"{report['searches_with_a_top_2_percent_cell']} of {report['searches']}")
    print(f"its place: median {report['best_place']['median']:g}, within the first 10 in "
          f"{report['best_place']['within_10']}, the first 20 in {report['best_place']['within_20']}, "
          f"lowest {report['best_place']['lowest']}")
    if taus:
        t = report["tau_within_search"]
        print(f"the search's order against the table, within a search: tau {t['mean']:.3f} "
              f"({t['min']:.2f} to {t['max']:.2f})")
    if report["gap"]:
        g = report["gap"]
        print(f"where {g['searches']} re-scored searches' picks lose to the table's best cell ({table_best:.2f} %), "
              f"in points: exploring {g['exploring']:.2f}, keeping {g['keeping']:.2f}, picking {g['picking']:.2f}")
    print(f"written: {args.out / 'search_seen.json'}, {args.out / 'search_seen.png'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
