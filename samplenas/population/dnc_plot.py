"""Deep-n-Cheap figures: the objective of every evaluation per stage, and the family of networks found for
several w_c (accuracy, t_tr and N_p against w_c: the shape of the paper's Figs. 3-4)."""

from __future__ import annotations

from pathlib import Path

from samplenas.plotting import pyplot, save_figure

STAGE_COLOURS = {"1": "tab:blue", "2": "tab:orange", "3": "tab:green"}


def objective_plot(result: dict, path: str | Path) -> None:
    """f of each evaluation in order, coloured by stage, with each stage's running best."""
    fig, ax = pyplot().subplots(figsize=(7, 3.6))
    offset = 0
    for stage in ("1", "2", "3"):
        fs = [e["f"] for e in result["history"].get(stage, [])]
        if not fs:
            continue
        xs = list(range(offset + 1, offset + len(fs) + 1))
        ax.scatter(xs, fs, s=14, color=STAGE_COLOURS[stage], label=f"stage {stage}")
        best, running = float("inf"), []
        for f in fs:
            best = min(best, f)
            running.append(best)
        ax.plot(xs, running, color=STAGE_COLOURS[stage], lw=1)
        offset += len(fs)
    ax.set_xlabel("evaluation")
    ax.set_ylabel("f = f_p + w_c c / c_0")
    ax.set_title(f"DnC {result['model']} on {result['data']}: "
                 f"penalty {result['penalty']}, w_c = {result['cost_weight']}")
    ax.legend(fontsize=8)
    fig.tight_layout()
    save_figure(fig, path, dpi=110)


def family_plot(results: list[dict], path: str | Path) -> list[dict]:
    """Best validation/test accuracy, t_tr and N_p of the final network against w_c, one series per penalty.
    Returns the plotted rows (also printed by the CLI)."""
    rows = sorted(({"penalty": r["penalty"], "w_c": r["cost_weight"], "val_acc": r["best"]["val_acc"],
                    "test_acc": r["best"]["test_acc"], "t_tr": r["best"]["t_tr"], "params": r["best"]["params"],
                    "data": r["data"], "model": r["model"]} for r in results), key=lambda r: (r["penalty"], r["w_c"]))
    panels = (("val_acc", "best val accuracy"), ("test_acc", "test accuracy"), ("t_tr", "t_tr (s/epoch)"),
              ("params", "N_p"))
    fig, axes = pyplot().subplots(1, len(panels), figsize=(4 * len(panels), 3.4))
    styles = {"time": dict(color="tab:pink", marker="o", ls="-"), "params": dict(color="black", marker="x", ls="--")}
    for ax, (name, label) in zip(axes, panels):
        for penalty in sorted({r["penalty"] for r in rows}):
            sub = [r for r in rows if r["penalty"] == penalty]
            ax.plot([r["w_c"] for r in sub], [r[name] for r in sub], label=f"penalty {penalty}", **styles[penalty])
        ax.set_xscale("symlog", linthresh=0.01)
        ax.set_xlabel("w_c")
        ax.set_ylabel(label)
        if name == "params":
            ax.set_yscale("log")
    axes[0].legend(fontsize=8)
    fig.tight_layout()
    save_figure(fig, path, dpi=110)
    return rows
