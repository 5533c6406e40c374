"""The population searches take one set of Ray options, defined once (`add_ray_options`), and hand
them on as the same `RaySettings`."""

from __future__ import annotations

import pytest

from samplenas.cli import build_parser
from samplenas.cli.options import ray_settings
from samplenas.population.driver import RaySettings

RAY = ["--address", "auto", "--threads-per-worker", "2", "--timeout", "30", "--max-retries", "5", "--resume"]


@pytest.mark.parametrize("command", [["evolve"], ["pbt", "--space", "autoencoder"], ["dnc"]])
def test_every_search_takes_the_same_ray_options(command):
    args = build_parser().parse_args([*command, "--out", "x", *RAY])
    assert ray_settings(args) == RaySettings(address="auto", threads_per_worker=2, timeout=30.0, max_retries=5)
    assert args.resume and not args.overwrite


@pytest.mark.parametrize("command", [["evolve"], ["pbt", "--space", "autoencoder"], ["dnc"]])
def test_every_search_can_train_its_tasks_on_gpus(command):
    args = build_parser().parse_args([*command, "--out", "x", "--gpus-per-candidate", "0.5"])
    settings = ray_settings(args)
    assert settings.gpus_per_candidate == 0.5 and settings.device == "cuda"
    assert ray_settings(build_parser().parse_args([*command, "--out", "x"])).device == "cpu"
