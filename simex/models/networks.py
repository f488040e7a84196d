"""The networks of the paper: the symmetric LeNet-5 autoencoder (Fig. 2) and LeNet-5."""

from __future__ import annotations

import torch
from torch import nn

CODE_SIZE = 84


def trunk_side(side: int) -> int:
    """Side of the 16-channel map after the two conv+pool stages (5 for 28, 6 for 32).

    ``side`` must be a multiple of 4 and at least 12, so that both poolings halve an
    even side and the decoder's upsampling lands exactly back on ``side``.
    """
    if side < 12 or side % 4:
        raise ValueError(f"the LeNet-5 autoencoder needs an image side that is a multiple of 4 and at least 12, "
                         f"got {side}")
    return (side // 2 - 4) // 2


class LeNet5Encoder(nn.Sequential):
    """LeNet-5's convolutional trunk and first two FC layers, ending in the 84-d code."""

    def __init__(self, channels: int = 1, height: int = 28, width: int = 28) -> None:
        super().__init__(
            nn.Conv2d(channels, 6, kernel_size=5, padding=2), nn.ReLU(), nn.MaxPool2d(2),  # 6x14x14 at 28x28
            nn.Conv2d(6, 16, kernel_size=5), nn.ReLU(), nn.MaxPool2d(2),  # 16x5x5 at 28x28
            nn.Flatten(),
            nn.Linear(16 * trunk_side(height) * trunk_side(width), 120), nn.ReLU(),
            nn.Linear(120, CODE_SIZE), nn.ReLU(),
        )


class LeNet5Decoder(nn.Sequential):
    """The encoder mirrored: FC back to 16x5x5, upsampling and (transposed) convolutions."""

    def __init__(self, channels: int = 1, height: int = 28, width: int = 28) -> None:
        h, w = trunk_side(height), trunk_side(width)
        super().__init__(
            nn.Linear(CODE_SIZE, 120), nn.ReLU(),
            nn.Linear(120, 16 * h * w), nn.ReLU(),
            nn.Unflatten(1, (16, h, w)),
            nn.Upsample(scale_factor=2, mode="nearest"),  # 16x10x10
            nn.ConvTranspose2d(16, 6, kernel_size=5), nn.ReLU(),  # 6x14x14
            nn.Upsample(scale_factor=2, mode="nearest"),  # 6x28x28
            nn.Conv2d(6, channels, kernel_size=5, padding=2), nn.Sigmoid(),
        )


class LeNet5AutoEncoder(nn.Module):
    """Input and output: (N, C, H, W) in [0, 1]; the paper's (N, 1, 28, 28) by default.

    Other input shapes (e.g. 3x32x32 for CIFAR-like data) get the same layers with the
    first convolution's input channels, the FC sizes and the last convolution's output
    channels fitted to the shape.
    """

    def __init__(self, channels: int = 1, height: int = 28, width: int = 28) -> None:
        super().__init__()
        self.input_shape = (channels, height, width)
        self.encoder = LeNet5Encoder(channels, height, width)
        self.decoder = LeNet5Decoder(channels, height, width)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.decoder(self.encoder(images))

    def encode(self, images: torch.Tensor) -> torch.Tensor:
        return self.encoder(images)

    def layers(self) -> dict[str, nn.Module]:
        """The layers by role, so code that fuses several autoencoders into one pass
        (simex.models.fused) names them instead of counting positions in the Sequentials."""
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

    def layers(self) -> dict[str, nn.Module]:
        """The layers with parameters by role (simex.models.fused fuses several classifiers by these names)."""
        return {"conv1": self.features[0], "conv2": self.features[3], "fc1": self.classifier[0],
                "fc2": self.classifier[2], "fc3": self.classifier[4]}
