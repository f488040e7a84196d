"""Training: the plain loop, the fused K-member loop, autoencoder training and its card."""
