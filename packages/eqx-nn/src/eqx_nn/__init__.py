"""Neural-network layers for eqx.

Layers take unbatched inputs; batch them with `jax.vmap` / `eqx_filter.filter_vmap`.

Each layer's module is imported on first use (`eqx_nn.Linear`, `from eqx_nn import
Linear`): creating the ~65 layer classes is most of what importing every layer costs,
and a program uses a few. `_EXPORTS` says where each public name is defined; the
imports under `TYPE_CHECKING` say the same to type checkers (a test keeps the two equal).
"""

# Underscored: this namespace's public names are exactly its API.
import typing as _typing

from eqx_tree.internal import LazyExports as _LazyExports

from ._version import version as _read_version

if _typing.TYPE_CHECKING:
    # --- layers ---
    from ._activations import PReLU as PReLU
    from ._adaptive_pool import AdaptiveAvgPool1d as AdaptiveAvgPool1d
    from ._adaptive_pool import AdaptiveAvgPool2d as AdaptiveAvgPool2d
    from ._adaptive_pool import AdaptiveAvgPool3d as AdaptiveAvgPool3d
    from ._adaptive_pool import AdaptiveMaxPool1d as AdaptiveMaxPool1d
    from ._adaptive_pool import AdaptiveMaxPool2d as AdaptiveMaxPool2d
    from ._adaptive_pool import AdaptiveMaxPool3d as AdaptiveMaxPool3d
    from ._adaptive_pool import AdaptivePool as AdaptivePool
    from ._conv import Conv as Conv
    from ._conv import Conv1d as Conv1d
    from ._conv import Conv2d as Conv2d
    from ._conv import Conv3d as Conv3d
    from ._conv_transpose import ConvTranspose as ConvTranspose
    from ._conv_transpose import ConvTranspose1d as ConvTranspose1d
    from ._conv_transpose import ConvTranspose2d as ConvTranspose2d
    from ._conv_transpose import ConvTranspose3d as ConvTranspose3d
    from ._dropout import Dropout as Dropout
    from ._embedding import Embedding as Embedding
    from ._linear import Identity as Identity
    from ._linear import Linear as Linear
    from ._mlp import MLP as MLP
    from ._multihead import MultiheadAttention as MultiheadAttention
    from ._normalisation import GroupNorm as GroupNorm
    from ._normalisation import LayerNorm as LayerNorm
    from ._normalisation import RMSNorm as RMSNorm
    from ._pool import AvgPool1d as AvgPool1d
    from ._pool import AvgPool2d as AvgPool2d
    from ._pool import AvgPool3d as AvgPool3d
    from ._pool import MaxPool1d as MaxPool1d
    from ._pool import MaxPool2d as MaxPool2d
    from ._pool import MaxPool3d as MaxPool3d
    from ._pool import Pool as Pool
    from ._rnn import GRUCell as GRUCell
    from ._rnn import LSTMCell as LSTMCell
    from ._rope import RotaryPositionalEmbedding as RotaryPositionalEmbedding

    # --- state, containers, wrappers, inference mode ---
    from ._batch_norm import BatchNorm as BatchNorm
    from ._inference import inference_mode as inference_mode
    from ._sequential import Lambda as Lambda
    from ._sequential import Sequential as Sequential
    from ._sequential import StatefulLayer as StatefulLayer
    from ._shared import Shared as Shared
    from ._spectral_norm import SpectralNorm as SpectralNorm
    from ._stateful import State as State
    from ._stateful import StateIndex as StateIndex
    from ._stateful import delete_init_state as delete_init_state
    from ._stateful import make_with_state as make_with_state
    from ._weight_norm import WeightNorm as WeightNorm

    # --- low-rank adaptation (LoRA) ---
    from ._lora import LoRALinear as LoRALinear
    from ._lora import apply_lora as apply_lora
    from ._lora import merge_lora as merge_lora

_EXPORTS = _LazyExports(
    __name__,
    {
        # --- layers ---
        "PReLU": "._activations",
        "AdaptiveAvgPool1d": "._adaptive_pool",
        "AdaptiveAvgPool2d": "._adaptive_pool",
        "AdaptiveAvgPool3d": "._adaptive_pool",
        "AdaptiveMaxPool1d": "._adaptive_pool",
        "AdaptiveMaxPool2d": "._adaptive_pool",
        "AdaptiveMaxPool3d": "._adaptive_pool",
        "AdaptivePool": "._adaptive_pool",
        "Conv": "._conv",
        "Conv1d": "._conv",
        "Conv2d": "._conv",
        "Conv3d": "._conv",
        "ConvTranspose": "._conv_transpose",
        "ConvTranspose1d": "._conv_transpose",
        "ConvTranspose2d": "._conv_transpose",
        "ConvTranspose3d": "._conv_transpose",
        "Dropout": "._dropout",
        "Embedding": "._embedding",
        "Identity": "._linear",
        "Linear": "._linear",
        "MLP": "._mlp",
        "MultiheadAttention": "._multihead",
        "GroupNorm": "._normalisation",
        "LayerNorm": "._normalisation",
        "RMSNorm": "._normalisation",
        "AvgPool1d": "._pool",
        "AvgPool2d": "._pool",
        "AvgPool3d": "._pool",
        "MaxPool1d": "._pool",
        "MaxPool2d": "._pool",
        "MaxPool3d": "._pool",
        "Pool": "._pool",
        "GRUCell": "._rnn",
        "LSTMCell": "._rnn",
        "RotaryPositionalEmbedding": "._rope",
        # --- state, containers, wrappers, inference mode ---
        "BatchNorm": "._batch_norm",
        "inference_mode": "._inference",
        "Lambda": "._sequential",
        "Sequential": "._sequential",
        "StatefulLayer": "._sequential",
        "Shared": "._shared",
        "SpectralNorm": "._spectral_norm",
        "State": "._stateful",
        "StateIndex": "._stateful",
        "delete_init_state": "._stateful",
        "make_with_state": "._stateful",
        "WeightNorm": "._weight_norm",
        # --- low-rank adaptation (LoRA) ---
        "LoRALinear": "._lora",
        "apply_lora": "._lora",
        "merge_lora": "._lora",
    },
    version=_read_version,
)

__version__: str  # resolved on first access by `__getattr__` (reading it costs milliseconds)
__all__: list[str]  # served by `__getattr__` from the table above

if not _typing.TYPE_CHECKING:  # a visible `__getattr__` would let type checkers accept any name
    __getattr__ = _EXPORTS.load
    __dir__ = _EXPORTS.dir
