"""The networks of the paper: the symmetric LeNet-5 autoencoder (Fig. 2) and LeNet-5."""

from __future__ import annotations

import torch
from torch import nn

CODE_SIZE = 84


class LeNet5Encoder(nn.Sequential):
    """LeNet-5's convolutional trunk and first two FC layers, ending in the 84-d code."""

    def __init__(self) -> None:
        super().__init__(
            nn.Conv2d(1, 6, kernel_size=5, padding=2), nn.ReLU(), nn.MaxPool2d(2),  # 6x14x14
            nn.Conv2d(6, 16, kernel_size=5), nn.ReLU(), nn.MaxPool2d(2),  # 16x5x5
            nn.Flatten(),
            nn.Linear(16 * 5 * 5, 120), nn.ReLU(),
            nn.Linear(120, CODE_SIZE), nn.ReLU(),
        )


class LeNet5Decoder(nn.Sequential):
    """The encoder mirrored: FC back to 16x5x5, upsampling and (transposed) convolutions."""

    def __init__(self) -> None:
        super().__init__(
            nn.Linear(CODE_SIZE, 120), nn.ReLU(),
            nn.Linear(120, 16 * 5 * 5), nn.ReLU(),
            nn.Unflatten(1, (16, 5, 5)),
            nn.Upsample(scale_factor=2, mode="nearest"),  # 16x10x10
            nn.ConvTranspose2d(16, 6, kernel_size=5), nn.ReLU(),  # 6x14x14
            nn.Upsample(scale_factor=2, mode="nearest"),  # 6x28x28
            nn.Conv2d(6, 1, kernel_size=5, padding=2), nn.Sigmoid(),
        )


class LeNet5AutoEncoder(nn.Module):
    """Input and output: (N, 1, 28, 28) in [0, 1]."""

    def __init__(self) -> None:
        super().__init__()
        self.encoder = LeNet5Encoder()
        self.decoder = LeNet5Decoder()

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.decoder(self.encoder(images))

    def encode(self, images: torch.Tensor) -> torch.Tensor:
        return self.encoder(images)

    def layers(self) -> dict[str, nn.Module]:
        """The layers by role, so code that folds several autoencoders into one pass
        (simex.fused) names them instead of counting positions in the Sequentials."""
        return {"conv1": self.encoder[0], "conv2": self.encoder[3], "fc1": self.encoder[7], "fc2": self.encoder[9],
                "fc3": self.decoder[0], "fc4": self.decoder[2], "unflatten": self.decoder[4],
                "deconv": self.decoder[6], "conv_out": self.decoder[9]}


class LeNet5Classifier(nn.Module):
    """LeNet-5: ``features`` (the convolutions) and ``classifier`` (the FC layers)."""

    def __init__(self, n_classes: int = 10) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(1, 6, kernel_size=5, padding=2), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(6, 16, kernel_size=5), nn.ReLU(), nn.MaxPool2d(2),
            nn.Flatten(),
        )
        self.classifier = nn.Sequential(
            nn.Linear(16 * 5 * 5, 120), nn.ReLU(),
            nn.Linear(120, 84), nn.ReLU(),
            nn.Linear(84, n_classes),
        )

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(images))
