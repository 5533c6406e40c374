"""The search-space contract every supernet and sampler relies on.

An architecture is an immutable tuple of ints: one categorical choice per position, `dims[i]`
choices at position i. That flat encoding is all a sampler sees; each space knows how to turn it
into its structured form, which architectures are valid, and how to mutate and recombine them.
Randomness always comes from a caller-owned `numpy.random.Generator`, so samplers can save and
restore the exact stream; for convenience every method that draws (`sample`, `sample_uniform`,
`sample_from_probs`, `mutate`, `crossover`) also takes an int seed or None, made into a Generator by
`as_generator` (in every space, plugins included: `SearchSpace.__init_subclass__` does it).
"""

from __future__ import annotations

import functools
import inspect
import re
from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import NamedTuple

import numpy as np

from samplenas.errors import InvalidArchitecture

__all__ = ["Arch", "InvalidArchitecture", "SearchSpace", "SpaceSize", "as_generator"]

Arch = tuple[int, ...]
_INTEGER = re.compile(r"-?[0-9]+", re.ASCII)  # a choice index in text: ASCII digits only
NO_OPERATION = ("empty", "none")  # choice names that compute nothing (`operation_count`)
RNG_METHODS = ("sample", "sample_uniform", "sample_from_probs", "mutate", "crossover")  # they take `rng`


class SpaceSize(NamedTuple):
    """What `SearchSpace.size()` returns: `count` distinct valid architectures, and whether that count
    is `exact` (True) or an estimate. A tuple, so `count, exact = space.size()` works."""

    count: int
    exact: bool


def as_generator(rng) -> np.random.Generator:
    """`rng` as a NumPy Generator: a Generator (or an object with a Generator's `random` and `integers`,
    e.g. a test's scripted coins) as it is, an int seed or None through `numpy.random.default_rng`;
    anything else is a TypeError that says what to pass."""
    if isinstance(rng, np.random.Generator) or (hasattr(rng, "random") and hasattr(rng, "integers")):
        return rng
    if rng is None or (isinstance(rng, int | np.integer) and not isinstance(rng, bool)):
        return np.random.default_rng(rng)
    raise TypeError(f"rng must be a numpy.random.Generator, an int seed or None, not {type(rng).__name__} "
                    "(make one with numpy.random.default_rng(seed))")


def _taking_seeds(method):
    """`method` with its `rng` argument passed through `as_generator` (as is without one)."""
    names = list(inspect.signature(method).parameters)
    if "rng" not in names:
        return method
    position = names.index("rng") - 1  # after self

    @functools.wraps(method)
    def wrapper(self, *args, **kwargs):
        if "rng" in kwargs:
            kwargs["rng"] = as_generator(kwargs["rng"])
        elif len(args) > position:
            args = (*args[:position], as_generator(args[position]), *args[position + 1:])
        return method(self, *args, **kwargs)

    wrapper.takes_seeds = True
    return wrapper


class SearchSpace(ABC):
    """A finite categorical search space with validity constraints."""

    name: str = ""
    dims: tuple[int, ...] = ()

    def __init_subclass__(cls, **kwargs):
        """Every drawing method a space defines takes a Generator, an int seed or None (`as_generator`)."""
        super().__init_subclass__(**kwargs)
        for name in RNG_METHODS:
            method = cls.__dict__.get(name)
            if callable(method) and not getattr(method, "takes_seeds", False) \
                    and not getattr(method, "__isabstractmethod__", False):
                setattr(cls, name, _taking_seeds(method))

    # --- structure -------------------------------------------------------------------------
    def position_names(self) -> list[str]:
        """A short name per position (for printing and for samplers' statistics)."""
        return [f"p{i}" for i in range(len(self.dims))]

    def choice_names(self, position: int) -> list[str]:
        """The readable name of every choice at `position`."""
        return [str(c) for c in range(self.dims[position])]

    @abstractmethod
    def size(self) -> SpaceSize:
        """`SpaceSize(count, exact)`: the number of distinct valid architectures, and whether it is exact
        (an estimate when counting exactly is impractical). E.g. `count, exact = space.size()`."""

    # --- validity --------------------------------------------------------------------------
    def check_encoding(self, arch: Sequence[int]) -> Arch:
        """Length and range checks shared by every space; returns the arch as a tuple of ints."""
        try:
            values = tuple(int(v) for v in arch)
        except (TypeError, ValueError) as err:
            raise InvalidArchitecture(f"{self.name}: architecture must be a sequence of ints ({err})") from None
        if len(values) != len(self.dims):
            raise InvalidArchitecture(
                f"{self.name}: architecture has {len(values)} positions, expected {len(self.dims)}"
            )
        for i, (v, d) in enumerate(zip(values, self.dims)):
            if not 0 <= v < d:
                raise InvalidArchitecture(
                    f"{self.name}: choice {v} at position {i} ({self.position_names()[i]}) is out of range 0..{d - 1}"
                )
        return values

    @abstractmethod
    def validate(self, arch: Sequence[int]) -> Arch:
        """Return `arch` as a tuple or raise InvalidArchitecture saying what is wrong."""

    def is_valid(self, arch: Sequence[int]) -> bool:
        try:
            self.validate(arch)
        except InvalidArchitecture:
            return False
        return True

    # --- sampling and variation -----------------------------------------------------------
    @abstractmethod
    def sample(self, rng: np.random.Generator | int | None) -> Arch:
        """A valid architecture (the space's default sampling rule), drawn from `rng` (a Generator, or
        an int seed / None: see `as_generator`). E.g. `space.sample(np.random.default_rng(0))`."""

    @_taking_seeds
    def sample_uniform(self, rng: np.random.Generator) -> Arch:
        """Uniform over valid encodings; spaces whose `sample` is not uniform override this."""
        return self.sample(rng)

    @_taking_seeds
    def sample_from_probs(self, probs: Sequence[np.ndarray], rng: np.random.Generator) -> Arch:
        """Draw position by position from per-position probabilities, redrawing invalid draws.

        Learned samplers (Gumbel, multinomial, VAE decoders) produce such probabilities; spaces
        with a structural rule (NB101's top-9 edges) override this to keep the paper's decoding.
        """
        for _ in range(1000):
            arch = tuple(int(rng.choice(len(p), p=np.asarray(p, dtype=np.float64) / np.sum(p))) for p in probs)
            if self.is_valid(arch):
                return arch
        raise InvalidArchitecture(f"{self.name}: 1000 draws from the given probabilities were all invalid")

    @abstractmethod
    def mutate(self, arch: Arch, rng: np.random.Generator) -> Arch:
        """A valid neighbour of a valid architecture."""

    @abstractmethod
    def crossover(self, a: Arch, b: Arch, rng: np.random.Generator) -> Arch:
        """A valid child of two valid parents."""

    # --- features ------------------------------------------------------------------------
    def features(self, arch: Arch) -> np.ndarray:
        """A fixed-length 0/1 vector that a performance predictor learns from: one-hot of every choice.

        Spaces where different encodings are the same network override this, so that a predictor
        sees equal networks as equal inputs rather than having to learn the equivalence.
        """
        arch = self.validate(arch)
        out = np.zeros(sum(self.dims), dtype=np.float32)
        out[np.cumsum((0,) + self.dims[:-1]) + np.asarray(arch)] = 1.0
        return out

    # --- identity and text -----------------------------------------------------------------
    def key(self, arch: Arch) -> str:
        """Canonical identity: functionally equivalent architectures share a key."""
        return ",".join(map(str, self.validate(arch)))

    @abstractmethod
    def to_str(self, arch: Arch) -> str:
        """Human-readable form; `from_str(to_str(a)) == a`."""

    @abstractmethod
    def from_str(self, text: str) -> Arch:
        """Parse `to_str` output (or the plain comma-separated ints); InvalidArchitecture if garbage."""

    def describe(self, arch: Arch) -> str:
        """The text form plus what the architecture reduces to, for printing (spaces that prune override)."""
        return self.to_str(arch)

    def is_degenerate(self, arch: Arch) -> bool:
        """True when the architecture computes no operation at all; searches skip such candidates."""
        return False

    def operation_count(self, arch: Arch) -> int:
        """How many operations the architecture computes: here the positions not left "empty" or "none".
        On NB101 a weight-sharing supernet scores architectures of more operations lower than the table does;
        the detrended scorers (`samplenas.training.scorers`) take that trend out."""
        arch = self.validate(arch)
        return sum(self.choice_names(i)[c] not in NO_OPERATION for i, c in enumerate(arch))

    def parse(self, text: str) -> Arch:
        """Accept either the readable form or comma-separated choice indices.

        Every readable form is ASCII and every number in it ASCII digits, so other characters
        (superscripts, full-width digits) are refused here, as is an empty text; a space's
        `from_str` that stumbles (ValueError, IndexError, KeyError) is reported as InvalidArchitecture.
        """
        stripped = text.strip()
        if not stripped:
            raise InvalidArchitecture(f"{self.name}: the architecture text is empty")
        if not stripped.isascii():
            bad = next(c for c in stripped if not c.isascii())
            raise InvalidArchitecture(f"{self.name}: architecture text has the non-ASCII character {bad!r}")
        parts = [part.strip() for part in stripped.split(",")]
        if all(_INTEGER.fullmatch(part) for part in parts):
            return self.validate([int(part) for part in parts])
        try:
            return self.from_str(stripped)
        except InvalidArchitecture:
            raise
        except (ValueError, IndexError, KeyError, TypeError) as err:
            raise InvalidArchitecture(f"{self.name}: cannot read architecture {stripped[:60]!r} ({err})") from None
