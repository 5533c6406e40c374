"""NAS-Bench-101 supernet: official network shape (checked against the table), weight sharing,
path-only execution, straight-through gates, extract/build."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from samplenas.spaces.nasbench101 import CANONICAL_OPS, EDGES, INPUT, NUM_EDGE_BITS, OUTPUT, ModelSpec
from samplenas.supernet import SUPERNETS
from samplenas.supernet.cost import count_macs, count_params
from samplenas.supernet.nasbench101 import (
    NASBench101Supernet,
    compute_vertex_channels,
    depth_weight_ids,
    encoded_vertex_ids,
    vertex_width_choices,
)
from samplenas.supernet.ops import SlicedConv2d

TINY = dict(stem_channels=8, num_stacks=2, cells_per_stack=1, num_classes=5, image_size=8)


def encode(edges, ops=(0, 0, 0, 0, 0)) -> tuple[int, ...]:
    bits = [0] * NUM_EDGE_BITS
    for edge in edges:
        bits[EDGES.index(edge)] = 1
    return tuple(bits) + tuple(ops)


CHAIN = encode([(0, 1), (1, 2), (2, 6)], ops=(0, 2, 1, 1, 1))  # vertices 3..5 pruned
INPUT_ONLY = encode([(0, 6)])
# three vertices feed the output (8 = 3 + 3 + 2, 16 = 6 + 5 + 5): edges into smaller vertices truncate
TRUNCATING = encode([(0, 1), (0, 2), (1, 2), (1, 6), (2, 3), (2, 6), (3, 6)], ops=(0, 1, 0, 2, 2))
RICH = encode([(0, 1), (0, 2), (1, 3), (2, 3), (3, 6), (1, 6), (0, 6), (2, 4), (4, 5)], ops=(1, 0, 2, 0, 1))


def table_arch(space, table, row) -> tuple[int, ...]:
    n = int(table["num_vertices"][row])
    ops = [INPUT] + [CANONICAL_OPS[c] for c in table["ops"][row][1 : n - 1]] + [OUTPUT]
    return space.encode(ModelSpec(table["adjacency"][row][:n, :n].astype(np.int64), ops))


@pytest.fixture(scope="module")
def full_size() -> NASBench101Supernet:
    with torch.device("meta"):
        return NASBench101Supernet()


@pytest.fixture
def tiny() -> NASBench101Supernet:
    torch.manual_seed(0)
    return NASBench101Supernet(**TINY)


def test_registered():
    assert SUPERNETS["nb101"] is NASBench101Supernet


def test_vertex_channels_follow_official_rules():
    # three vertices feed the output: 128 = 43 + 43 + 42 (remainder to the first); vertex 1
    # feeds vertices 2 and 3 only, so it takes their max
    matrix = np.zeros((5, 5), dtype=int)
    for i, j in [(0, 1), (1, 2), (1, 3), (0, 3), (2, 4), (3, 4)]:
        matrix[i, j] = 1
    assert compute_vertex_channels(64, 128, matrix) == [64, 64, 64, 64, 128]
    matrix[0, 2] = 1
    matrix[1, 4] = 1
    assert compute_vertex_channels(64, 128, matrix) == [64, 43, 43, 42, 128]
    assert compute_vertex_channels(64, 128, np.array([[0, 1], [0, 0]])) == [64, 128]


def test_encoded_vertex_ids_skip_pruned_vertices():
    spec = ModelSpec(np.array([[0, 1, 1, 0], [0, 0, 0, 1], [0, 0, 0, 0], [0, 0, 0, 0]]), [INPUT, "a", "b", OUTPUT])
    assert encoded_vertex_ids(spec) == (0, 1, 3)


def test_build_matches_table_parameter_counts(full_size, nb101_npz, rng):
    known = np.flatnonzero(~np.isnan(nb101_npz["params"]))
    rows = [int(known[0])] + [int(r) for r in rng.choice(known, 20, replace=False)]
    assert int(nb101_npz["params"][known[0]]) == 8_555_530  # first cell of the 1k tfrecord
    for row in rows:
        with torch.device("meta"):
            network = full_size.build(table_arch(full_size.space, nb101_npz, row))
        assert count_params(network) == int(nb101_npz["params"][row]), row


def test_build_matches_table_flops(full_size, nb101_npz, rng):
    """The table's `flops_thop` (a public PyTorch port measured with thop, which adds 2 per BN
    output element to conv and dense multiply-adds) pins spatial sizes and widths everywhere."""
    for row in rng.choice(len(nb101_npz["params"]), 3, replace=False):
        bn_elements = 0

        def count_bn(module, inputs, output):
            nonlocal bn_elements
            bn_elements += output.numel()

        with torch.device("meta"):
            network = full_size.build(table_arch(full_size.space, nb101_npz, int(row)))
            for module in network.modules():
                if isinstance(module, nn.BatchNorm2d):
                    module.register_forward_hook(count_bn)
            macs = count_macs(network, (3, 32, 32))
        assert macs + 2 * bn_elements == nb101_npz["flops_thop"][row], row


def _settle_bn(supernet, archs):
    """Give every BN non-trivial running statistics (a few training-mode passes)."""
    supernet.train()
    with torch.no_grad():
        for arch in archs:
            supernet(torch.randn(4, 3, 8, 8), arch)
    supernet.eval()


def _spread_codes(supernet: NASBench101Supernet) -> None:
    """Give the simplex-net's (zero-initialised) last layer weights, so codes differ between layers and cells."""
    with torch.no_grad():
        supernet.simplex.codes.weight.normal_(0.0, 1.0)


@pytest.mark.parametrize(
    ("widths", "batch_norm", "weight_key", "edge", "copies"),
    [("official", "affine", "vertex", "encoded", 1), ("fixed", "affine", "vertex", "encoded", 1),
     ("official", "non-affine", "vertex", "encoded", 1), ("official", "private-width", "vertex", "encoded", 1),
     ("fixed", "private-width", "vertex", "encoded", 1), ("official", "affine", "depth", "encoded", 1),
     ("official", "affine", "vertex", "always", 1), ("fixed", "affine", "vertex", "always", 1),
     ("official", "affine", "vertex", "encoded", 3), ("official", "affine", "depth", "always", 2)],
)
def test_extract_equals_supernet_forward_in_eval_mode(widths, batch_norm, weight_key, edge, copies, rng):
    torch.manual_seed(0)
    tiny = NASBench101Supernet(**TINY, vertex_widths=widths, batch_norm=batch_norm, weight_key=weight_key,
                               input_output_edge=edge, weight_copies=copies)
    if copies > 1:
        _spread_codes(tiny)
    archs = [CHAIN, INPUT_ONLY, RICH, TRUNCATING] + [tiny.space.sample(rng) for _ in range(4)]
    _settle_bn(tiny, archs)
    x = torch.randn(3, 3, 8, 8)
    for arch in archs:
        with torch.no_grad():
            expected = tiny(x, arch)
            subnet = tiny.extract(arch).eval()
            torch.testing.assert_close(subnet(x), expected, atol=1e-5, rtol=1e-5)
        assert not any(isinstance(m, SlicedConv2d) for m in subnet.modules())
        # the subnet owns copies: training it leaves the supernet untouched
        before = tiny.cells[0].projections[0].conv.weight.clone()
        for p in subnet.parameters():
            p.data.add_(1.0)
        assert torch.equal(tiny.cells[0].projections[0].conv.weight, before)


def test_build_has_extract_structure_and_fresh_weights(tiny):
    tiny.eval()
    extracted, built = tiny.extract(RICH), tiny.build(RICH)
    assert str(extracted) == str(built)
    assert [p.shape for p in extracted.parameters()] == [p.shape for p in built.parameters()]
    x = torch.randn(2, 3, 8, 8)
    assert not torch.allclose(extracted.eval()(x), built.eval()(x))


def test_odd_image_size_downsamples_like_tf_same_padding():
    supernet = NASBench101Supernet(stem_channels=5, num_stacks=3, cells_per_stack=1, image_size=7)
    seen = []
    supernet.cells[2].projections[5].register_forward_hook(lambda m, i, out: seen.append(out.shape[-1]))
    supernet(torch.randn(1, 3, 7, 7), INPUT_ONLY)
    assert seen == [2]  # 7 -> 4 -> 2, as TF's "same" 2x2/2 max-pool


def _ran_convs(supernet, x, arch) -> list[str]:
    ran: list[str] = []
    names = {module: name for name, module in supernet.named_modules()}
    handles = [
        m.register_forward_hook(lambda module, i, o: ran.append(names[module]))
        for m in supernet.modules()
        if isinstance(m, (SlicedConv2d, nn.Conv2d))
    ]
    try:
        supernet(x, arch)
    finally:
        for handle in handles:
            handle.remove()
    return ran


@pytest.mark.parametrize("arch", [CHAIN, INPUT_ONLY, RICH, TRUNCATING])
def test_forward_runs_only_the_chosen_path(tiny, arch):
    spec = tiny.space.decode(arch)
    ids, n = encoded_vertex_ids(spec), len(spec.ops)
    expected = ["stem.0"]
    for cell in range(len(tiny.cells)):
        for v in range(1, n - 1):  # vertex order: interior inputs, projection, then the op
            if spec.matrix[0, v]:
                expected.append(f"cells.{cell}.projections.{ids[v] - 1}.conv")
            if spec.ops[v] != "maxpool3x3":
                expected.append(f"cells.{cell}.{spec.ops[v][:7]}.{ids[v] - 1}.conv")
        if spec.matrix[0, n - 1]:
            expected.append(f"cells.{cell}.projections.5.conv")
    ran = _ran_convs(tiny, torch.randn(2, 3, 8, 8), arch)
    assert ran == expected
    extracted_convs = [m for m in tiny.extract(arch).modules() if isinstance(m, nn.Conv2d)]
    assert len(extracted_convs) == len(expected)


def test_shared_weights_are_sliced_to_the_cell_widths(tiny):
    # CHAIN: vertex 2 alone feeds the output (8 channels), vertex 1 takes its width
    _ = tiny(torch.randn(2, 3, 8, 8), CHAIN)
    extracted = tiny.extract(CHAIN)
    conv = extracted.cells[0].ops["1"][0]
    assert (conv.in_channels, conv.out_channels, conv.kernel_size) == (8, 8, (3, 3))
    torch.testing.assert_close(conv.weight, tiny.cells[0].conv3x3[0].conv.weight)
    # RICH, second slot (16 channels): two interior vertices feed the output -> 8 each
    proj = tiny.extract(RICH).cells[1].projections["1"][0]
    assert (proj.in_channels, proj.out_channels) == (8, 8)
    torch.testing.assert_close(proj.weight, tiny.cells[1].projections[0].conv.weight[:8, :8])


def _used_positions(space, arch) -> set[int]:
    spec = space.decode(arch)
    ids, n = encoded_vertex_ids(spec), len(spec.ops)
    used = {NUM_EDGE_BITS + ids[v] - 1 for v in range(1, n - 1)}
    used |= {EDGES.index((ids[a], ids[b])) for a in range(n) for b in range(n) if spec.matrix[a, b]}
    return used


@pytest.mark.parametrize("edge", ["encoded", "always"])
@pytest.mark.parametrize("arch", [CHAIN, INPUT_ONLY, RICH, TRUNCATING])
def test_gates_get_gradient_exactly_at_used_positions(arch, edge):
    """With the input->output edge in every cell, an edge the encoding lacks still gives its gate no gradient."""
    torch.manual_seed(0)
    tiny = NASBench101Supernet(**TINY, input_output_edge=edge)
    gates = torch.full((len(tiny.space.dims),), 0.3, requires_grad=True)
    x = torch.randn(2, 3, 8, 8)
    tiny.eval()
    out = tiny(x, arch, gates)
    with torch.no_grad():
        torch.testing.assert_close(out, tiny(x, arch))  # straight through: forward value 1
    (out * torch.randn_like(out)).sum().backward()
    nonzero = {int(i) for i in torch.nonzero(gates.grad).flatten()}
    assert nonzero == _used_positions(tiny.space, arch)


def test_cost_counts_params_and_macs_of_the_built_network():
    supernet = NASBench101Supernet(stem_channels=8, num_stacks=1, cells_per_stack=1, image_size=8)
    cost = supernet.cost(INPUT_ONLY)
    # stem 3->8 conv3x3 + BN, cell projection 8->8 conv1x1 + BN, dense 8->10
    assert cost["params"] == (27 * 8 + 16) + (64 + 16) + (80 + 10)
    assert cost["macs"] == 64 * 8 * 27 + 64 * 8 * 8 + 8 * 10
    assert supernet.cost(INPUT_ONLY) == cost


def test_bad_settings_are_user_errors():
    from samplenas.errors import UserError

    with pytest.raises(UserError, match="stem_channels must be a positive integer"):
        NASBench101Supernet(stem_channels=0)
    with pytest.raises(UserError, match="at least 5"):  # 5 vertices feeding the output need 1 channel each
        NASBench101Supernet(stem_channels=4)
    with pytest.raises(UserError, match="vertex_widths must be one of official, fixed"):
        NASBench101Supernet(vertex_widths="wide")
    with pytest.raises(UserError, match="batch_norm must be one of affine, non-affine, private-width, got 'none'"):
        NASBench101Supernet(batch_norm="none")
    with pytest.raises(UserError, match="weight_key must be one of vertex, depth, got 'op'"):
        NASBench101Supernet(weight_key="op")
    with pytest.raises(UserError, match="input_output_edge must be one of encoded, always, got 'never'"):
        NASBench101Supernet(input_output_edge="never")
    with pytest.raises(UserError, match="uniform_draws must be one of encodings, distinct-cells, got 'cells'"):
        NASBench101Supernet(uniform_draws="cells")
    with pytest.raises(UserError, match="weight_copies must be a positive integer, got 0"):
        NASBench101Supernet(weight_copies=0)


def test_uniform_draws_decide_what_the_supernets_samplers_train():
    """The space a sampler draws from is the supernet's: distinct cells there are mostly 7-vertex cells."""
    rng = np.random.default_rng(0)
    for draws, at_least, at_most in (("encodings", 0.0, 0.05), ("distinct-cells", 0.75, 1.0)):
        supernet = NASBench101Supernet(**TINY, uniform_draws=draws)
        assert supernet.settings["uniform_draws"] == draws
        sizes = [supernet.plans(supernet.space.sample_uniform(rng))[0].size for _ in range(300)]
        assert at_least <= np.mean(np.array(sizes) == 7) <= at_most
    # a search aid: the deployed network (costs, retraining) is the same either way
    assert NASBench101Supernet.deployed_settings({"uniform_draws": "distinct-cells"}) == {"uniform_draws": "encodings"}


def test_input_output_edge_always_adds_the_projected_input_to_every_cell():
    """A chain without the edge gets it (one more projection, at the output's width); a cell with it is unchanged."""
    torch.manual_seed(0)
    always = NASBench101Supernet(**TINY, input_output_edge="always")
    torch.manual_seed(0)
    encoded = NASBench101Supernet(**TINY)
    chain = always.plans(CHAIN)[0]
    assert chain.matrix[0, -1] == 1 and encoded.plans(CHAIN)[0].matrix[0, -1] == 0
    assert chain.channels == encoded.plans(CHAIN)[0].channels  # the edge does not split the output's channels
    added = sum(p.numel() for p in always.extract(CHAIN).parameters()) - sum(
        p.numel() for p in encoded.extract(CHAIN).parameters())
    # the output projection of each slot: 1x1 conv plus BN scale and shift, 8 -> 8 and 8 -> 16 channels
    assert added == (8 * 8 + 2 * 8) + (8 * 16 + 2 * 16)
    x = torch.randn(2, 3, 8, 8)
    for supernet in (always, encoded):
        torch.manual_seed(1)  # the same settling batches for both
        _settle_bn(supernet, [RICH])
    with torch.no_grad():  # RICH has the edge: the same weights give the same network
        torch.testing.assert_close(always(x, RICH), encoded(x, RICH))
        assert not torch.allclose(always(x, CHAIN), encoded(x, CHAIN))


def test_the_added_edge_is_a_search_aid_the_deployed_network_and_its_cost_leave_out():
    """build/extract run the variant; deployed_network, cost and deployed_settings are the official cell's."""
    always, encoded = NASBench101Supernet(**TINY, input_output_edge="always"), NASBench101Supernet(**TINY)
    for arch in (CHAIN, RICH):
        assert str(always.deployed_network(arch)) == str(encoded.build(arch))
        assert always.cost(arch) == encoded.cost(arch)
    assert always.cost(CHAIN)["params"] < count_params(always.build(CHAIN))  # the variant has one more projection
    assert NASBench101Supernet.deployed_settings({"stem_channels": 8, "input_output_edge": "always"}) == {
        "stem_channels": 8, "input_output_edge": "encoded"}


def test_depth_keys_share_weights_between_vertices_at_the_same_depth():
    """0 -> 2 -> 6 (vertex 2 at depth 1) runs vertex 1's weights when keyed by depth, its own when keyed by vertex."""
    rich = NASBench101Supernet(**TINY).plans(RICH)[0]  # 4 and 5 are pruned; 1 and 2 at depth 1, 3 at depth 2
    assert rich.vertex_ids == (0, 1, 2, 3, 6) and depth_weight_ids(rich.matrix) == (0, 1, 1, 2, 6)
    skip = encode([(0, 2), (2, 6)], ops=(0, 0, 0, 0, 0))
    for key, expected in (("depth", 0), ("vertex", 1)):
        torch.manual_seed(0)
        supernet = NASBench101Supernet(**TINY, weight_key=key)
        conv = supernet.extract(skip).cells[0].ops["1"][0]
        shared = supernet.cells[0].conv3x3[expected].conv.weight[: conv.out_channels, : conv.in_channels]
        torch.testing.assert_close(conv.weight, shared)


def test_one_weight_copy_is_the_plain_supernet():
    torch.manual_seed(0)
    plain = NASBench101Supernet(**TINY)
    torch.manual_seed(0)
    one = NASBench101Supernet(**TINY, weight_copies=1)
    assert plain.state_dict().keys() == one.state_dict().keys()
    assert all(torch.equal(a, b) for a, b in zip(plain.state_dict().values(), one.state_dict().values()))
    assert torch.equal(one.simplex_codes(RICH), torch.ones(2, 16, 1))


def test_weight_copies_start_shared_evenly_and_learn_a_code_per_cell():
    torch.manual_seed(0)
    supernet = NASBench101Supernet(**TINY, weight_copies=4)
    copies = supernet.cells[1].conv3x3[0].conv
    assert len(copies.other_weights) == 3
    for other in copies.other_weights:  # the official initialiser, drawn afresh for every copy
        assert other.shape == copies.weight.shape and not torch.equal(other, copies.weight)
        assert other.std().item() == pytest.approx(copies.weight.std().item(), rel=0.2)
    for arch in (CHAIN, RICH):
        torch.testing.assert_close(supernet.simplex_codes(arch), torch.full((2, 16, 4), 0.25))
    optimizer = torch.optim.SGD(supernet.parameters(), lr=0.5)
    for _ in range(3):
        optimizer.zero_grad()
        nn.functional.cross_entropy(supernet(torch.randn(8, 3, 8, 8), RICH), torch.randint(0, 5, (8,))).backward()
        optimizer.step()
    codes = supernet.simplex_codes(RICH).detach()
    torch.testing.assert_close(codes.sum(-1), torch.ones(2, 16))
    assert codes.max() > 0.26  # the simplex-net learned a code for the cell it trained
    assert not torch.allclose(supernet.simplex_codes(CHAIN), codes)  # codes depend on the cell


def test_weight_copies_refuse_an_invalid_cell_before_coding_it():
    from samplenas.spaces.base import InvalidArchitecture

    supernet = NASBench101Supernet(**TINY, weight_copies=2)
    too_many_edges = (1,) * NUM_EDGE_BITS + (0,) * 5
    with pytest.raises(InvalidArchitecture, match="at most 9 allowed"):
        supernet.extract(too_many_edges)
    with pytest.raises(InvalidArchitecture, match="at most 9 allowed"):
        supernet(torch.randn(1, 3, 8, 8), too_many_edges)
    with pytest.raises(InvalidArchitecture, match="at most 9 allowed"):
        supernet.simplex_codes(too_many_edges)


def test_weight_copies_change_no_network_or_cost():
    torch.manual_seed(0)
    plain, kshot = NASBench101Supernet(**TINY), NASBench101Supernet(**TINY, weight_copies=3)
    for arch in (CHAIN, RICH, TRUNCATING):
        assert str(kshot.extract(arch)) == str(plain.build(arch)) == str(kshot.build(arch))
        assert kshot.cost(arch) == plain.cost(arch)


@pytest.fixture
def fixed() -> NASBench101Supernet:
    torch.manual_seed(0)
    return NASBench101Supernet(**TINY, vertex_widths="fixed")


def test_fixed_widths_give_every_vertex_the_full_width_and_sum_the_output(fixed):
    # RICH, second slot (16 channels): officially 8 + 8 concatenated; fixed: 16 + 16 summed
    for arch in (CHAIN, RICH, TRUNCATING):
        extracted = fixed.extract(arch)
        for cell, width in zip(extracted.cells, (8, 16)):
            convs = [m for m in cell.ops.modules() if isinstance(m, nn.Conv2d)]
            assert convs and all(c.out_channels == width for c in convs)
            assert all(p[0].out_channels == width for p in cell.projections.values())
    # every slice is the whole shared weight: no training at several widths
    conv = fixed.extract(RICH).cells[1].projections["1"][0]
    torch.testing.assert_close(conv.weight, fixed.cells[1].projections[0].conv.weight)


def test_fixed_widths_output_is_the_sum_of_its_feeders(fixed):
    # TRUNCATING feeds the output from vertices 1, 2 and 3 (no input -> output edge)
    network = fixed.extract(TRUNCATING).eval()
    cell = network.cells[0]
    outputs = {}
    hooks = [cell.ops[v].register_forward_hook(lambda m, i, out, v=v: outputs.setdefault(v, out)) for v in "123"]
    hooks.append(cell.register_forward_hook(lambda m, i, out: outputs.setdefault("cell", out)))
    try:
        with torch.no_grad():
            network(torch.randn(2, 3, 8, 8))
    finally:
        for hook in hooks:
            hook.remove()
    assert outputs["cell"].shape[1] == 8  # the full width, not 3 + 3 + 2 concatenated shares
    torch.testing.assert_close(outputs["cell"], outputs["1"] + outputs["2"] + outputs["3"])


def test_fixed_widths_build_has_extract_structure_and_more_parameters(fixed):
    for arch in (CHAIN, INPUT_ONLY, RICH, TRUNCATING):
        assert str(fixed.extract(arch)) == str(fixed.build(arch))
    official = NASBench101Supernet(**TINY)
    assert count_params(fixed.build(RICH)) > count_params(official.build(RICH))


def _bn_layers(module: nn.Module) -> list[nn.BatchNorm2d]:
    return [m for m in module.modules() if isinstance(m, nn.BatchNorm2d)]


def test_default_batch_norm_is_the_sliced_affine_one(tiny):
    # the parameter count and state of the supernet as it was before the batch_norm setting
    assert tiny.settings["batch_norm"] == "affine"
    assert len(tiny.state_dict()) == 200 and count_params(tiny) == 18_237
    assert "cells.1.conv3x3.4.bn.weight" in tiny.state_dict()


def test_non_affine_cells_have_no_bn_scale_or_shift():
    torch.manual_seed(0)
    supernet = NASBench101Supernet(**TINY, batch_norm="non-affine")
    assert not any("cells." in name and ".bn." in name for name, _ in supernet.named_parameters())
    assert all(not m.affine for m in _bn_layers(supernet.cells))
    assert supernet.stem[1].affine  # the stem is not shared between widths
    # a scale and a shift per channel of 16 blocks per slot (6 projections, 5 conv3x3, 5 conv1x1), 8 and 16 wide
    assert count_params(NASBench101Supernet(**TINY)) - count_params(supernet) == 2 * 16 * (8 + 16)
    for network in (supernet.extract(RICH), supernet.build(RICH)):
        assert [m.affine for m in _bn_layers(network)] == [True] + [False] * (len(_bn_layers(network)) - 1)


def test_vertex_width_choices_cover_every_cell(rng):
    assert vertex_width_choices(16) == [3, 4, 5, 6, 8, 16]  # 16 split 1..5 ways
    assert vertex_width_choices(16, "fixed") == [16]
    tiny = NASBench101Supernet(**TINY)
    for arch in [CHAIN, INPUT_ONLY, RICH, TRUNCATING] + [tiny.space.sample(rng) for _ in range(200)]:
        for slot, plan in zip(tiny.slots, tiny.plans(arch)):
            assert set(plan.channels[1:]) <= set(vertex_width_choices(slot.out_channels)), arch


def test_private_width_bn_is_never_shared_between_widths():
    torch.manual_seed(0)
    supernet = NASBench101Supernet(**TINY, batch_norm="private-width")
    projection = supernet.cells[1].projections[0]  # vertex 1's projection, second slot (16 channels)
    assert list(projection.bn.norms) == ["3", "4", "5", "6", "8", "16"]
    supernet.train()
    supernet(torch.randn(4, 3, 8, 8), RICH)  # two vertices feed the output: vertex 1 is 8 wide
    tracked = {w: int(n.num_batches_tracked) for w, n in projection.bn.norms.items()}
    assert tracked == {"3": 0, "4": 0, "5": 0, "6": 0, "8": 1, "16": 0}
    extracted, built = supernet.extract(RICH), supernet.build(RICH)
    assert str(extracted) == str(built)
    assert all(m.affine for m in _bn_layers(built))
    torch.testing.assert_close(extracted.cells[1].projections["1"][1].weight, projection.bn.norms["8"].weight)
