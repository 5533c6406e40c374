"""The sampler of a supernet run: built from its `TrainConfig`, its zero-cost proxies attached, the
learned part inside a mixture, and the statistics the trainer logs."""

from __future__ import annotations

import math

from samplenas.errors import UserError
from samplenas.samplers import SAMPLERS
from samplenas.samplers.mixture import ramp_increment
from samplenas.training.train_config import TrainConfig


def make_sampler(config: TrainConfig, space):
    """`SAMPLERS[config.sampler]`; with `epsilon_inc` (or `epsilon_ramp`, the share of the steps over which
    epsilon rises to its maximum), the mixture (1 - eps) U + eps p of that sampler.

    The trainer raises a mixture's epsilon once per training step itself (`auto_step` off), so the
    draws of evaluation rounds do not count as steps.
    """
    name, options = config.sampler, dict(config.sampler_options)
    if name == "gumbel":
        options.setdefault("tau_steps", max(1, config.steps))  # GDAS anneals tau over the whole run
    if (config.epsilon_inc is not None or config.epsilon_ramp is not None) and name != "mixture":
        name, options = "mixture", {"inner": name, "inner_options": options}
    if config.epsilon_inc is not None:
        options["epsilon_inc"] = config.epsilon_inc
    if name == "mixture":
        options.setdefault("auto_step", False)
    try:
        sampler = SAMPLERS[name](space, seed=config.seed, **options)
    except TypeError as err:
        raise UserError(f"sampler {name!r}: bad option ({err})") from None
    if config.epsilon_ramp is not None:  # from the mixture's own start to its own maximum
        sampler.epsilon_inc = ramp_increment(config.epsilon_ramp, config.steps, sampler.epsilon, sampler.epsilon_max)
    return sampler


def nested_samplers(sampler) -> list:
    """The sampler and those it draws from (`inner`, and theirs), outermost first."""
    chain = [sampler]
    while getattr(chain[-1], "inner", None) is not None:
        chain.append(chain[-1].inner)
    return chain


def attach_proxies(sampler, supernet, task, train, seed: int):
    """Give every proxy filter in `sampler` its zero-cost scorer: `supernet.build` initialised from
    `seed`, one fixed minibatch of `train` (`proxy_batch`); returns `sampler`."""
    from samplenas.training.zero_cost import ZeroCostScorer, proxy_batch

    for target in nested_samplers(sampler):
        if callable(getattr(target, "attach_scorer", None)):
            batch = proxy_batch(train, min(target.batch_size, len(train)), seed)
            scorer = ZeroCostScorer(target.proxy, supernet, task, batch, seed)
            target.attach_scorer(lambda arch, scorer=scorer: scorer.score(arch)["score"])
    return sampler


def learned_part(sampler):
    """The learned distribution inside a mixture (VAENAS Algorithm 2 line 13 seeds search from it). A
    wrapper whose own draws are the law the run trained on (`own_law`, e.g. a proxy filter) is its own."""
    if getattr(sampler, "own_law", False):
        return sampler
    return getattr(sampler, "inner", sampler)


def sampler_stats(sampler) -> dict[str, float]:
    """Scalar statistics a sampler and those it draws from expose (epsilon, logit entropy, VAE loss,
    temperature)."""
    stats = {}
    for target in nested_samplers(sampler):
        for name in ("epsilon", "tau"):
            value = getattr(target, name, None)
            if isinstance(value, (int, float)) and math.isfinite(value):
                stats[name] = float(value)
        last_loss = getattr(target, "last_loss", None)  # the VAE's last {"loss", "recon", "kl"}
        if isinstance(last_loss, dict):
            stats.update({f"vae_{k}": float(v) for k, v in last_loss.items()})
        entropy = getattr(target, "entropy", None)
        if callable(entropy):
            stats["entropy"] = float(entropy())
    return stats
