"""The run layer of the population searches: Ray settings checked once, naming the flag; one loop that
submits, streams and logs."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from samplenas.errors import UserError
from samplenas.population.driver import RaySettings, stream
from samplenas.population.engine import ResultsLog


@pytest.mark.parametrize(("settings", "message"), [
    (RaySettings(timeout=0.0), "--timeout must be"),
    (RaySettings(max_retries=-1), "--max-retries must be"),
    (RaySettings(workers=2, address="auto"), "--workers starts a local Ray"),
])
def test_bad_ray_settings_are_one_line_naming_the_flag(settings, message):
    with pytest.raises(UserError, match=message):
        settings.check()


class FakeEngine:
    """Submissions come back in reverse order, as a real cluster may return them."""

    def __init__(self):
        self.submitted = []

    def submit(self, key, payload):
        self.submitted.append((key, payload))

    def as_completed(self):
        for key, payload in reversed(self.submitted):
            yield SimpleNamespace(key=key, value=payload * 10)
        self.submitted = []


class CountingMonitor:
    def __init__(self):
        self.expected = self.finished_count = 0

    def expect(self, count):
        self.expected += count

    def finished(self):
        self.finished_count += 1


def test_stream_logs_each_record_before_the_caller_sees_it(tmp_path):
    log = ResultsLog(tmp_path / "evaluations.jsonl")
    monitor = CountingMonitor()
    seen = []
    for result, record in stream(FakeEngine(), [("a", 1), ("b", 2), ("c", 3)], log,
                                 lambda r: {"key": r.key, "value": r.value}, monitor):
        assert record["key"] in ResultsLog(tmp_path / "evaluations.jsonl")  # on disk already
        seen.append((result.key, record["value"]))
    assert seen == [("c", 30), ("b", 20), ("a", 10)]
    assert [r["key"] for r in log.records()] == ["c", "b", "a"]
    assert (monitor.expected, monitor.finished_count) == (3, 3)


def test_stream_without_jobs_yields_nothing(tmp_path):
    monitor = CountingMonitor()
    assert list(stream(FakeEngine(), [], ResultsLog(tmp_path / "log.jsonl"), dict, monitor)) == []
    assert monitor.expected == 0
