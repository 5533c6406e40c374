"""The Ray settings every population search takes are checked once, naming the flag."""

from __future__ import annotations

import pytest

from samplenas.errors import UserError
from samplenas.population.driver import RaySettings


@pytest.mark.parametrize(("settings", "message"), [
    (RaySettings(timeout=0.0), "--timeout must be"),
    (RaySettings(max_retries=-1), "--max-retries must be"),
    (RaySettings(workers=2, address="auto"), "--workers starts a local Ray"),
])
def test_bad_ray_settings_are_one_line_naming_the_flag(settings, message):
    with pytest.raises(UserError, match=message):
        settings.check()
