"""Models and losses: LeNet-5 autoencoder and classifier, one delta per loss, K members fused into one pass."""
