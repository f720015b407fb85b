"""Walkout's shared domain package: wire contract, store model, catalog, carts and receipts.

Shipped to Lambda as the `common` layer and installed on edge boxes and developer machines
as the `walkout-common` distribution. Pure where it can be: no AWS calls outside the
data-access modules.
"""

__version__ = "0.1.0"
