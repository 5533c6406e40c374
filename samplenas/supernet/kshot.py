"""Learnable weight sharing: K copies of every shared weight, mixed per architecture.

K-shot NAS (Su et al., ICML 2021) keeps K copies of each shared weight and runs an architecture on a
convex combination of them, with one simplex code per layer produced from the architecture's encoding
by a small "simplex-net" trained with the supernet. Sharing is then soft and learned instead of one
weight for every architecture. The last layer starts at zero, so every code starts uniform.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

SIMPLEX_HIDDEN = 64


def one_hot_encoding(arch: Sequence[int], dims: Sequence[int]) -> torch.Tensor:
    """The flat encoding as concatenated one-hot vectors, one per position (length sum(dims))."""
    features = torch.zeros(sum(dims))
    offset = 0
    for choice, size in zip(arch, dims):
        features[offset + int(choice)] = 1.0
        offset += size
    return features


class SimplexNet(nn.Module):
    """Encoding -> one simplex code (K weights summing to 1) for each of `num_layers` shared layers."""

    def __init__(self, dims: Sequence[int], num_layers: int, copies: int, hidden: int = SIMPLEX_HIDDEN):
        super().__init__()
        self.dims = tuple(int(d) for d in dims)
        self.num_layers, self.copies = num_layers, copies
        self.hidden = nn.Linear(sum(self.dims), hidden)
        self.codes = nn.Linear(hidden, num_layers * copies)
        nn.init.zeros_(self.codes.weight)
        nn.init.zeros_(self.codes.bias)

    def forward(self, arch: Sequence[int]) -> torch.Tensor:
        """Codes of shape (num_layers, copies), each row on the simplex."""
        features = one_hot_encoding(arch, self.dims).to(self.hidden.weight)
        logits = self.codes(torch.relu(self.hidden(features)))
        return torch.softmax(logits.view(self.num_layers, self.copies), dim=-1)
