"""`eqx.nn._attention`: the attention functions of `eqx_nn._attention`, re-exported.

Private in name only: migrating code imports
`from eqx.nn._attention import dot_product_attention`, so the spec keeps it working.
"""

from eqx_nn._attention import dot_product_attention as dot_product_attention
from eqx_nn._attention import dot_product_attention_weights as dot_product_attention_weights
