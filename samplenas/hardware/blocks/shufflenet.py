"""ShuffleNet chain blocks: one ShuffleNetV2 unit per (layer, choice), at the shape the layer receives.

Every layer is its own slot (layers of a stage share a shape, but each is measured where it sits);
the unit includes its split, concatenation and channel shuffle. Fixed parts: stem and head.
"""

from __future__ import annotations

from samplenas.hardware.blocks.base import Block, BlockSpec
from samplenas.spaces.base import Arch
from samplenas.spaces.shufflenet import CHOICES, NUM_LAYERS, ShuffleNetSpace
from samplenas.supernet.shufflenet import ChoiceUnit, ShuffleNetChain, ShuffleNetConfig, layer_shapes


class ShuffleNetBlocks(BlockSpec):
    space_name = "shufflenet"

    def __init__(self, settings: dict):
        values = dict(settings)
        if values.get("stage_channels") is not None:
            values["stage_channels"] = tuple(values["stage_channels"])
        self.config = ShuffleNetConfig(**values)
        self.config.check()
        self.space = ShuffleNetSpace()
        self.shapes = layer_shapes(self.config)
        size = self.config.image_size // self.config.stem_stride
        self.input_shapes = []
        for shape in self.shapes:
            self.input_shapes.append((shape.in_channels, size, size))
            size //= shape.stride
        self.head_shape = (self.config.widths()[-1], size, size)

    def _block(self, layer: int, choice: int) -> Block:
        return Block(f"layer{layer}", CHOICES[choice], self.input_shapes[layer])

    def table_blocks(self) -> list[Block]:
        return [self._block(layer, choice) for layer in range(NUM_LAYERS) for choice in range(len(CHOICES))]

    def arch_blocks(self, arch: Arch) -> list[Block]:
        return [self._block(layer, choice) for layer, choice in enumerate(arch)]

    def fixed_parts(self) -> list[Block]:
        c = self.config
        return [Block("stem", "stem", (c.in_channels, c.image_size, c.image_size)),
                Block("head", "head", self.head_shape)]

    def make(self, block: Block):
        if block.slot in ("stem", "head"):
            chain = ShuffleNetChain(self.config, [[0]] * NUM_LAYERS)
            return getattr(chain, block.slot), [block.input_shape]
        layer = int(block.slot.removeprefix("layer"))
        unit = ChoiceUnit(CHOICES.index(block.choice), self.shapes[layer], self.config.vaenas_variant,
                          self.config.bn_affine)
        return unit, [block.input_shape]
