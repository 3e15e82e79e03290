"""The names eqx_nn lends to the `eqx` meta-package, and to nobody else.

What one eqx package imports from another is either public or listed here, so that
eqx_nn's private modules stay free to change between releases. A change to these names
is recorded in eqx_nn's changelog like an API change.

- `dot_product_attention`, `dot_product_attention_weights`: the attention functions
  that Equinox exposes only at the private path `eqx.nn._attention`, which `eqx` keeps
  working for migrating code.

```python
from eqx_nn.internal import dot_product_attention
```
"""

from ._attention import dot_product_attention as dot_product_attention
from ._attention import dot_product_attention_weights as dot_product_attention_weights

__all__ = ["dot_product_attention", "dot_product_attention_weights"]
