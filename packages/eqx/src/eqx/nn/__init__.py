"""`eqx.nn`: the neural-network layers of `eqx_nn`, re-exported unchanged.

Every name here is the very object from `eqx_nn` (`eqx.nn.Linear is eqx_nn.Linear`),
read from `eqx_nn` on first use, so that `import eqx` does not import every layer (see
`eqx_nn`). The private submodule `eqx.nn._attention` re-exports the attention
functions that migrating code reaches for.
"""

# Underscored: this namespace's public names are exactly its API.
import typing as _typing

import eqx_nn as _eqx_nn
from eqx_tree.internal import LazyExports as _LazyExports

if _typing.TYPE_CHECKING:
    from eqx_nn import MLP as MLP
    from eqx_nn import AdaptiveAvgPool1d as AdaptiveAvgPool1d
    from eqx_nn import AdaptiveAvgPool2d as AdaptiveAvgPool2d
    from eqx_nn import AdaptiveAvgPool3d as AdaptiveAvgPool3d
    from eqx_nn import AdaptiveMaxPool1d as AdaptiveMaxPool1d
    from eqx_nn import AdaptiveMaxPool2d as AdaptiveMaxPool2d
    from eqx_nn import AdaptiveMaxPool3d as AdaptiveMaxPool3d
    from eqx_nn import AdaptivePool as AdaptivePool
    from eqx_nn import AvgPool1d as AvgPool1d
    from eqx_nn import AvgPool2d as AvgPool2d
    from eqx_nn import AvgPool3d as AvgPool3d
    from eqx_nn import BatchNorm as BatchNorm
    from eqx_nn import Conv as Conv
    from eqx_nn import Conv1d as Conv1d
    from eqx_nn import Conv2d as Conv2d
    from eqx_nn import Conv3d as Conv3d
    from eqx_nn import ConvTranspose as ConvTranspose
    from eqx_nn import ConvTranspose1d as ConvTranspose1d
    from eqx_nn import ConvTranspose2d as ConvTranspose2d
    from eqx_nn import ConvTranspose3d as ConvTranspose3d
    from eqx_nn import Dropout as Dropout
    from eqx_nn import Embedding as Embedding
    from eqx_nn import GroupNorm as GroupNorm
    from eqx_nn import GRUCell as GRUCell
    from eqx_nn import Identity as Identity
    from eqx_nn import Lambda as Lambda
    from eqx_nn import LayerNorm as LayerNorm
    from eqx_nn import Linear as Linear
    from eqx_nn import LSTMCell as LSTMCell
    from eqx_nn import MaxPool1d as MaxPool1d
    from eqx_nn import MaxPool2d as MaxPool2d
    from eqx_nn import MaxPool3d as MaxPool3d
    from eqx_nn import MultiheadAttention as MultiheadAttention
    from eqx_nn import Pool as Pool
    from eqx_nn import PReLU as PReLU
    from eqx_nn import RMSNorm as RMSNorm
    from eqx_nn import RotaryPositionalEmbedding as RotaryPositionalEmbedding
    from eqx_nn import Sequential as Sequential
    from eqx_nn import Shared as Shared
    from eqx_nn import SpectralNorm as SpectralNorm
    from eqx_nn import State as State
    from eqx_nn import StatefulLayer as StatefulLayer
    from eqx_nn import StateIndex as StateIndex
    from eqx_nn import WeightNorm as WeightNorm
    from eqx_nn import delete_init_state as delete_init_state
    from eqx_nn import inference_mode as inference_mode
    from eqx_nn import make_with_state as make_with_state

    # Beyond Equinox: low-rank adaptation.
    from eqx_nn import LoRALinear as LoRALinear
    from eqx_nn import apply_lora as apply_lora
    from eqx_nn import merge_lora as merge_lora

    from . import _attention as _attention

_EXPORTS = _LazyExports(
    __name__, {**dict.fromkeys(_eqx_nn.__all__, "eqx_nn"), "_attention": "._attention"}
)

if not _typing.TYPE_CHECKING:  # a visible `__getattr__` would let type checkers accept any name
    __getattr__ = _EXPORTS.load
    __dir__ = _EXPORTS.dir
