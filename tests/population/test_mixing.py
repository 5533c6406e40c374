"""Mixing moves the right weights: replaced layers are lambda*donor + gamma*fresh for the seeded fresh
init, everything else is the better parent's; repairs keep children valid; nb101 is refused."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from samplenas.errors import UserError
from samplenas.population.mixing import (
    BETTER,
    DONOR,
    ShrinkPerturb,
    assemble,
    check_mixable,
    fresh_state,
    key_roles,
    mix,
    mix_arch,
    perturb_weights,
    resample_one,
)
from samplenas.supernet import SUPERNETS

SP = ShrinkPerturb(0.4, 0.1)


def trained_state(supernet, arch, seed):
    """A parent's state: a seeded build with every float tensor shifted, so no two sources coincide."""
    torch.manual_seed(seed)
    net = supernet.build(arch)
    state = {k: v.clone() for k, v in net.state_dict().items()}
    for k, v in state.items():
        if v.is_floating_point():
            state[k] = v + 0.01 * (seed + 1)
    return state


def tiny_shufflenet():
    return SUPERNETS["shufflenet"](num_classes=3, image_size=32, stage_channels=(8, 16, 24, 32), stem_channels=4,
                                   last_channels=16)


def tiny_nasnet():
    return SUPERNETS["nasnet"](C=4, layers=4, num_classes=3, image_size=8)


def test_shufflenet_replaced_layer_is_shrink_perturbed_donor_and_the_rest_is_the_better_parent():
    supernet = tiny_shufflenet()
    better_arch, donor_arch = (0,) * 20, (3,) * 20
    better, donor = trained_state(supernet, better_arch, 1), trained_state(supernet, donor_arch, 2)
    swap = [i in (2, 7) for i in range(20)]
    child_arch, sources, origins = mix_arch(supernet.space, better_arch, donor_arch, swap)
    assert child_arch == tuple(3 if i in (2, 7) else 0 for i in range(20))
    child = assemble(supernet, child_arch, sources, origins, (better_arch, better), (donor_arch, donor), SP, seed=5)
    fresh = fresh_state(supernet, child_arch, 5)
    moved_keys = [k for k in child.state if k.startswith(("layers.2.", "layers.7."))]
    assert moved_keys and all(".3." in k for k in moved_keys)
    for key, value in child.state.items():
        if key in moved_keys:
            expected = donor[key] if not donor[key].is_floating_point() else 0.4 * donor[key] + 0.1 * fresh[key]
            torch.testing.assert_close(value, expected, rtol=0, atol=1e-6)
            assert key not in child.kept_params  # optimiser state of a moved layer is reset
        else:
            assert torch.equal(value, better[key]), key
    # BN running statistics moved and shrink-perturbed too (fresh BN: mean 0, var 1)
    var_key = next(k for k in moved_keys if k.endswith("running_var"))
    torch.testing.assert_close(child.state[var_key], 0.4 * donor[var_key] + 0.1, rtol=0, atol=1e-6)
    assert child.moved == [2, 7]
    assert set(child.kept_params) == {k for k, _ in supernet.build(child_arch).named_parameters()} - set(moved_keys)
    net = supernet.build(child_arch)
    net.load_state_dict(child.state)  # the state is a complete, loadable network
    assert net(torch.randn(2, 3, 32, 32)).shape == (2, 3)


def test_copy_and_reinit_ablations_are_the_two_ends_of_shrink_perturb():
    supernet = tiny_shufflenet()
    better_arch, donor_arch = (1,) * 20, (2,) * 20
    better, donor = trained_state(supernet, better_arch, 3), trained_state(supernet, donor_arch, 4)
    swap = [i == 4 for i in range(20)]
    args = (supernet, *mix_arch(supernet.space, better_arch, donor_arch, swap), (better_arch, better),
            (donor_arch, donor))
    copied = assemble(*args, ShrinkPerturb(1.0, 0.0), seed=9)
    reinit = assemble(*args, ShrinkPerturb(0.0, 1.0), seed=9)
    fresh = fresh_state(supernet, copied.arch, 9)
    for key in copied.state:
        if key.startswith("layers.4."):
            assert torch.equal(copied.state[key], donor[key])
            if fresh[key].is_floating_point():
                assert torch.equal(reinit.state[key], fresh[key])
        else:
            assert torch.equal(copied.state[key], reinit.state[key])


def test_nasnet_position_moves_the_edge_op_in_every_cell_of_its_type_and_repairs_dead_nodes():
    supernet = tiny_nasnet()
    space = supernet.space
    better_arch = tuple([4] * 28)  # sep_conv_3x3 everywhere
    donor_arch = tuple([0, 5] + [5] * 12 + [0] * 2 + [6] * 12)  # normal edge 0 'none'; reduce node2 all 'none'
    assert not space.is_valid(donor_arch)  # reduce node 2 would have no input ...
    donor_arch = donor_arch[:14] + (0, 7) + donor_arch[16:]  # ... make it valid: dil_conv on 2<-1
    better, donor = trained_state(supernet, better_arch, 1), trained_state(supernet, donor_arch, 2)
    swap = [i in (1, 14) for i in range(28)]  # normal 2<-1 (sep5) and reduce 2<-0 ('none')
    child_arch, sources, origins = mix_arch(space, better_arch, donor_arch, swap)
    assert child_arch[1] == 5 and child_arch[14] == 0
    child = assemble(supernet, child_arch, sources, origins, (better_arch, better), (donor_arch, donor), SP, seed=3)
    fresh = fresh_state(supernet, child_arch, 3)
    roles = key_roles(supernet, child_arch, list(child.state))
    moved = [k for k, (pos, _) in roles.items() if pos == 1]
    assert {k.split(".")[1] for k in moved} == {"0", "3"}  # the two normal cells of a 4-cell network
    assert all(".sep_conv_5x5." in k for k in moved)
    for key, value in child.state.items():
        if key in moved and value.is_floating_point():
            torch.testing.assert_close(value, 0.4 * donor[key] + 0.1 * fresh[key], rtol=0, atol=1e-6)
        elif key not in moved:
            assert torch.equal(value, better[key]), key
    assert not any(".edges.0." in k and k.startswith("cells.1.") for k in child.state)  # 'none': no module
    # a node whose only live edges are swapped to 'none' reverts to the better parent's edges
    better2 = tuple([1, 0] + [3] * 26)  # normal node 2: avg_pool<-0 only
    donor2 = tuple([0, 4] + [3] * 26)
    repaired, sources2, _ = mix_arch(space, better2, donor2, [i == 0 for i in range(28)])
    assert repaired == better2 and sources2[0] == BETTER


def test_autoencoder_empty_positions_pack_and_shapes_are_fitted():
    supernet = SUPERNETS["autoencoder"](in_channels=1, image_size=8, max_layers=4, num_reductions=1)
    space = supernet.space
    better_arch = space.parse("3x3conv2d:16,3x3conv2d:8")
    donor_arch = space.parse("1x1conv2d:16,5x5conv2d:16,1x1conv2d:32,3x3conv2d:8")
    better, donor = trained_state(supernet, better_arch, 1), trained_state(supernet, donor_arch, 2)
    swap = [False, True, False, True]  # layer 2 from donor, empty 3 stays, donor's layer 4 packs to 3
    child_arch, sources, origins = mix_arch(space, better_arch, donor_arch, swap)
    assert space.to_str(child_arch) == "3x3conv2d:16,5x5conv2d:16,3x3conv2d:8"
    assert sources[:3] == [BETTER, DONOR, DONOR] and origins[:3] == [0, 1, 3]
    child = assemble(supernet, child_arch, sources, origins, (better_arch, better), (donor_arch, donor), SP, seed=4)
    fresh = fresh_state(supernet, child_arch, 4)
    roles = key_roles(supernet, child_arch, list(child.state))
    donor_roles = {t.format(p) if p is not None else t: k
                   for k, (p, t) in key_roles(supernet, donor_arch, list(donor)).items()}
    better_roles = {t.format(p) if p is not None else t: k
                    for k, (p, t) in key_roles(supernet, better_arch, list(better)).items()}
    # child layer 2 (5x5, 16->16) is the donor's layer 2 with the same shape: exact shrink-perturb
    for key, (pos, template) in roles.items():
        if pos == 1:
            source = donor[donor_roles[template.format(1)]]
            assert source.shape == child.state[key].shape
            torch.testing.assert_close(child.state[key], 0.4 * source + 0.1 * fresh[key], rtol=0, atol=1e-6)
        if pos == 0 and template.startswith("encode"):
            assert torch.equal(child.state[key], better[better_roles[template.format(0)]])
    # child layer 3 is the donor's layer 4 (3x3, 8 filters) fed 16 channels instead of 32:
    # the overlapping input channels are shrink-perturbed, a same-shape output block everywhere
    enc3 = next(k for k, (p, t) in roles.items() if p == 2 and t.startswith("encode") and k.endswith("weight"))
    src = donor[donor_roles["encode.3.weight"]]
    assert src.shape[1] == 32 and child.state[enc3].shape[1] == 16
    torch.testing.assert_close(child.state[enc3], 0.4 * src[:, :16] + 0.1 * fresh[enc3], rtol=0, atol=1e-6)
    net = supernet.build(child_arch)
    net.load_state_dict(child.state)
    assert net(torch.randn(2, 1, 8, 8)).shape == (2, 1, 8, 8)
    # everything swapped to empty: the better parent's first layer stays
    only_empty, _, _ = mix_arch(space, better_arch, space.parse("dropout2d"), [True] * 4)
    assert space.to_str(only_empty) == "dropout2d"
    all_empty, _, _ = mix_arch(space, space.parse("3x3conv2d:16"), space.parse("1x1conv2d:8,dropout2d"),
                               [False, True, True, True])
    assert space.to_str(all_empty) == "3x3conv2d:16,dropout2d"


def test_mix_draws_each_position_with_probability_p_and_is_reproducible():
    supernet = tiny_shufflenet()
    a, b = (0,) * 20, (1,) * 20
    sa, sb = trained_state(supernet, a, 1), trained_state(supernet, b, 2)
    children = [mix(supernet, (a, sa), (b, sb), 0.25, SP, np.random.default_rng(s), seed=s) for s in range(40)]
    fraction = np.mean([len(c.moved) / 20 for c in children])
    assert 0.18 < fraction < 0.32
    again = mix(supernet, (a, sa), (b, sb), 0.25, SP, np.random.default_rng(3), seed=3)
    assert again.arch == children[3].arch
    assert all(torch.equal(again.state[k], children[3].state[k]) for k in again.state)


def test_mixing_a_parent_with_itself_keeps_the_architecture_but_shrink_perturbs_the_drawn_layers():
    supernet = tiny_shufflenet()
    a = tuple(i % 4 for i in range(20))
    sa = trained_state(supernet, a, 1)
    child = mix(supernet, (a, sa), (a, sa), 0.5, SP, np.random.default_rng(0), seed=0)
    assert child.arch == a and child.moved
    changed = {int(k.split(".")[1]) for k in child.state if not torch.equal(child.state[k], sa[k])}
    assert changed == set(child.moved)


def test_searl_resample_and_weight_perturbation():
    supernet = tiny_shufflenet()
    rng = np.random.default_rng(0)
    a = (0,) * 20
    arch, sources, _ = resample_one(supernet.space, a, rng)
    assert sum(x != y for x, y in zip(arch, a)) == 1 and sources.count(DONOR) == 1
    sa = trained_state(supernet, a, 1)
    out = perturb_weights(sa, np.random.default_rng(1))
    changed = [k for k in sa if not torch.equal(sa[k], out[k])]
    assert changed and all(sa[k].dim() > 1 for k in changed)
    assert all(torch.equal(sa[k], out[k]) for k in sa if sa[k].dim() <= 1)


def test_nb101_and_unknown_spaces_are_refused_with_one_line():
    with pytest.raises(UserError, match="nb101 cannot be mixed") as err:
        check_mixable("nb101")
    assert "\n" not in str(err.value)
    with pytest.raises(UserError, match="valid: shufflenet, nasnet, autoencoder"):
        check_mixable("resnet")
