"""Test configuration shared by every package's tests (pytest's rootdir conftest).

The strict promotion flags catch sloppy dtype or rank promotion inside the library:
a layer that silently upcasts float16 to float32, or broadcasts a (3,) against a
(3, 1), fails its own tests instead of a user's training run.
"""

import jax

jax.config.update("jax_numpy_rank_promotion", "raise")
jax.config.update("jax_numpy_dtype_promotion", "strict")
