"""One progress bar and one TensorBoard writer for a population search."""

from __future__ import annotations

import math

from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from samplenas.population.monitor import SearchMonitor


def scalars(folder) -> dict[str, list[tuple[int, float]]]:
    events = EventAccumulator(str(folder))
    events.Reload()
    return {tag: [(e.step, e.value) for e in events.Scalars(tag)] for tag in events.Tags()["scalars"]}


def test_the_bar_counts_every_submission_over_the_whole_run(tmp_path, capsys):
    with SearchMonitor(tmp_path / "tb", enabled=True) as monitor:
        monitor.label("round 1/2")
        monitor.expect(3)
        for _ in range(3):
            monitor.finished()
        monitor.label("round 2/2")
        monitor.expect(2)
        monitor.finished()
        assert (monitor.bar.n, monitor.bar.total) == (4, 5)
    captured = capsys.readouterr()
    assert "round 2/2" in captured.err and captured.out == ""  # stdout stays free for a search's JSON


def test_non_finite_values_are_left_out_of_tensorboard(tmp_path):
    with SearchMonitor(tmp_path / "tb", enabled=False) as monitor:
        monitor.scalars(1, {"fitness/best": 0.5, "fitness/slot000": -math.inf, "fitness/slot001": None})
    assert scalars(tmp_path / "tb") == {"fitness/best": [(1, 0.5)]}


def test_a_resumed_search_drops_the_points_logged_past_its_step(tmp_path, next_second):
    with SearchMonitor(tmp_path / "tb", enabled=False) as monitor:
        for step in (1, 2, 3):
            monitor.scalars(step, {"population/best": float(step)})
    next_second()  # the resumed run's event file is read after the interrupted run's, purging steps >= 2
    with SearchMonitor(tmp_path / "tb", enabled=False, resume_step=2) as monitor:
        monitor.scalars(2, {"population/best": 20.0})
    assert scalars(tmp_path / "tb")["population/best"] == [(1, 1.0), (2, 20.0)]
