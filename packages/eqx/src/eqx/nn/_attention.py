"""`eqx.nn._attention`: the attention functions of `eqx_nn`, re-exported.

Private in name only: migrating code imports
`from eqx.nn._attention import dot_product_attention`, so it keeps working.
"""

from eqx_nn.internal import dot_product_attention as dot_product_attention
from eqx_nn.internal import dot_product_attention_weights as dot_product_attention_weights
