"""PBT's lineage plot: every slot has its own colour, and a parent arrow is drawn in the colour of the
child it points to (it was one fixed grey, tab10's colour of slot 7)."""

from __future__ import annotations

from matplotlib.colors import to_rgba

from samplenas.plotting import pyplot
from samplenas.population.figures import lineage_figure, slot_colours


def _history(population: int) -> list[dict]:
    """Three rounds; after round 0 slot 0 is replaced by a child of 5 and 7, after round 1 slot 3 by 1 and 2."""
    fitness = [[0.1 * (s + 1) + 0.01 * r for s in range(population)] for r in range(3)]
    return [{"round": 0, "fitness": fitness[0], "replaced": [{"slot": 0, "parents": [5, 7]}]},
            {"round": 1, "fitness": fitness[1], "replaced": [{"slot": 3, "parents": [1, 2]}]},
            {"round": 2, "fitness": fitness[2], "replaced": []}]


def test_arrows_take_the_colour_of_the_child_they_point_to():
    fig = lineage_figure(_history(8), 8, "validation accuracy", "t")
    try:
        ax = fig.axes[0]
        colours = slot_colours(8)
        lines = {line.get_label(): line for line in ax.get_lines()}
        for slot in range(8):
            assert to_rgba(lines[f"slot {slot}"].get_color()) == to_rgba(colours[slot])
        arrows = [(a.xy, to_rgba(a.arrow_patch.get_edgecolor(), 1.0)) for a in ax.texts if a.arrow_patch]
        assert len(arrows) == 4
        by_child = {0: [c for xy, c in arrows if xy[0] == 2], 3: [c for xy, c in arrows if xy[0] == 3]}
        for child, drawn in by_child.items():
            assert drawn == [to_rgba(colours[child], 1.0)] * 2, child
        assert to_rgba(colours[7]) not in [c for _, c in arrows]  # not the grey of slot 7's line
    finally:
        pyplot().close(fig)


def test_slot_colours_are_distinct_beyond_ten_slots():
    for population in (4, 10, 16, 20, 33):
        assert len({to_rgba(c) for c in slot_colours(population)}) == population
