"""Fleets, the product: the fleet folder, `simex rank` and `simex fleet build`."""
