"""Landmark regularisation (tools/landmarks_nb101.py): the hinge orders a landmark pair by standalone accuracy."""

import torch

from samplenas.supernet.nasbench101 import NASBench101Supernet
from tests.tools.tool_loader import load_tool


class CrossEntropy:
    @staticmethod
    def loss(output, target):
        return torch.nn.functional.cross_entropy(output, target)


def test_hinge_charges_the_better_landmark_losing_and_runs_every_nth_step():
    tool = load_tool("landmarks_nb101")
    torch.manual_seed(0)
    supernet = NASBench101Supernet(stem_channels=6, num_stacks=1, cells_per_stack=1, image_size=8).eval()
    space = supernet.space
    a, b = space.sample_uniform(1), space.sample_uniform(2)
    x, y = torch.randn(4, 3, 8, 8), torch.tensor([0, 1, 2, 3])
    with torch.no_grad():
        loss = {arch: float(CrossEntropy.loss(supernet(x, arch), y)) for arch in (a, b)}
    worse_first = sorted((a, b), key=lambda arch: -loss[arch])  # the higher loss is called the better cell
    hinge = tool.LandmarkHinge([(worse_first[0], 0.9), (worse_first[1], 0.8)], CrossEntropy, 2.0, 2, seed=0)
    with torch.no_grad():
        off, on = float(hinge(supernet, x, y)), float(hinge(supernet, x, y))
        agreeing = tool.LandmarkHinge([(worse_first[0], 0.8), (worse_first[1], 0.9)], CrossEntropy, 2.0, 1, seed=0)
        agreed = float(agreeing(supernet, x, y))
    assert off == 0.0  # off-step
    expected = 2.0 * (loss[worse_first[0]] - loss[worse_first[1]])
    assert abs(on - expected) < 1e-5 and expected > 0
    assert agreed == 0.0  # the supernet already orders them as standalone training


def test_a_params_teacher_distils_its_ranking_into_a_run_and_writes_its_landmarks(tmp_path, data_dir):
    tool = load_tool("landmarks_nb101")
    out = tmp_path / "run"
    argv = ["--out", str(out), "--teacher", "params", "--teacher-cells", "6", "--steps", "2", "--every", "1",
            "--data", "digits", "--data-dir", str(data_dir), "--lr", "0.05"]
    assert tool.main(argv) == 0
    landmarks = tool.read_landmarks(out / "landmarks.jsonl")
    assert len(landmarks) == 6 and len({arch for arch, _ in landmarks}) == 6
    from samplenas.training.supernet_run import open_run

    run = open_run(out)
    assert run.config.lr == 0.05 and run.step == 2
    for arch, score in landmarks:  # the teacher's score is the cell's parameter count at the run's size
        assert score == run.supernet.cost(arch)["params"]


def test_the_teacher_leaves_the_runs_random_streams_alone(data_dir):
    tool = load_tool("landmarks_nb101")
    from samplenas.training.supernet_train import SupernetTrainer
    from samplenas.training.train_config import TrainConfig

    trainer = SupernetTrainer(TrainConfig(space="nb101", sampler="uniform", data="digits", data_dir=str(data_dir),
                                          network=tool.PROXY_NETWORK, steps=1, seed=0))
    before = torch.random.get_rng_state()
    first = tool.teacher_landmarks(trainer, "synflow", 3, seed=0)
    assert torch.equal(before, torch.random.get_rng_state())
    assert first == tool.teacher_landmarks(trainer, "synflow", 3, seed=0)  # a pure function of the seed


def test_a_landmark_file_without_scores_is_refused_in_one_line(tmp_path):
    tool = load_tool("landmarks_nb101")
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"arch": [0, 1]}\n')
    try:
        tool.read_landmarks(bad)
    except ValueError as err:
        assert "needs an integer list 'arch'" in str(err) and "\n" not in str(err)
    else:
        raise AssertionError("a landmark without a score was read")


def test_like_a_run_trains_with_that_runs_settings_and_the_hinge_only(tmp_path, data_dir):
    tool = load_tool("landmarks_nb101")
    from samplenas.training.supernet_run import open_run, run_config
    from samplenas.training.supernet_train import SupernetTrainer
    from samplenas.training.train_config import TrainConfig

    network = {**tool.PROXY_NETWORK, "input_output_edge": "always"}
    config = TrainConfig(space="nb101", sampler="uniform", data="digits", data_dir=str(data_dir), network=network,
                         steps=3, eval_every=2, checkpoint_every=3, seed=5, lr=0.04)
    SupernetTrainer(config, progress=False).train(tmp_path / "plain")
    landmarks = tmp_path / "landmarks.jsonl"
    space = open_run(tmp_path / "plain").space
    landmarks.write_text("".join(f'{{"arch": {list(space.sample_uniform(seed))}, "val_accuracy": {acc}}}\n'
                                 for seed, acc in ((1, 0.5), (2, 0.6))))
    out = tmp_path / "hinged"
    assert tool.main(["--like", str(tmp_path / "plain"), "--out", str(out), "--landmarks", str(landmarks),
                      "--every", "1"]) == 0
    plain, hinged = run_config(tmp_path / "plain").to_dict(), run_config(out).to_dict()
    assert hinged == plain  # the run's own settings: seed, steps, lr, network, evaluation
    first, second = open_run(tmp_path / "plain"), open_run(out)
    assert second.step == 3
    differ = [name for name, w in first.supernet.state_dict().items()
              if not torch.equal(w, second.supernet.state_dict()[name])]
    assert differ  # the hinge changed the weights


def test_like_refuses_settings_it_takes_from_the_run(tmp_path, capsys):
    tool = load_tool("landmarks_nb101")
    try:
        tool.main(["--like", str(tmp_path), "--out", str(tmp_path / "x"), "--seed", "3", "--lr", "0.1"])
    except SystemExit as exit_:
        assert exit_.code == 2
    else:
        raise AssertionError("--like with --seed was accepted")
    assert "--like takes --lr, --seed from the run; drop them" in capsys.readouterr().err
