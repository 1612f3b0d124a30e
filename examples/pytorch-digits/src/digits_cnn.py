"""The network, the data and the training loop that both jobs share.

The network takes a flat row of the 64 pixel values (0-16) that scikit-learn's digits give and
reshapes it to a 1x8x8 image itself, so a JSON client sends plain rows of numbers; it answers
class probabilities. Training uses ``logits``, for a numerically stable cross-entropy.
"""

from collections.abc import Callable

import numpy as np
import torch
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split
from torch import nn
from torch.nn import functional


class DigitsCNN(nn.Module):
    """Two convolution blocks (the ``features``, 8x8 -> 2x2 maps) and a linear ``head``."""

    def __init__(self, classes: int = 10, channels: int = 16) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(1, channels, 3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Conv2d(channels, 2 * channels, 3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Flatten(),
        )
        self.head = nn.Linear(2 * channels * 2 * 2, classes)

    @classmethod
    def like(cls, state: dict[str, torch.Tensor], classes: int | None = None) -> "DigitsCNN":
        """A network shaped like the one ``state`` holds the weights of; ``classes`` gives it another head."""
        width = state["features.0.weight"].shape[0]
        return cls(classes=classes or state["head.weight"].shape[0], channels=width)

    def logits(self, pixels: torch.Tensor) -> torch.Tensor:
        images = pixels.reshape(-1, 1, 8, 8).to(torch.float32) / 16.0
        return self.head(self.features(images))

    def forward(self, pixels: torch.Tensor) -> torch.Tensor:
        return torch.softmax(self.logits(pixels), dim=1)


def digits_halves() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Pixels and digits of the half the base network learns from, then of the other half."""
    X, y = load_digits(return_X_y=True)
    X_base, X_other, y_base, y_other = train_test_split(X, y, test_size=0.5, random_state=0, stratify=y)
    return X_base, y_base, X_other, y_other


def accuracy(model: nn.Module, X: np.ndarray, y: np.ndarray, device: torch.device) -> float:
    model.eval()
    with torch.no_grad():
        predicted = model(torch.as_tensor(X, device=device)).argmax(dim=1).cpu().numpy()
    return float((predicted == y).mean())


def fit(
    model: DigitsCNN,
    X: np.ndarray,
    y: np.ndarray,
    *,
    epochs: int,
    learning_rate: float,
    batch_size: int,
    device: torch.device,
    seed: int = 0,
    on_epoch: Callable[[int, float], None] | None = None,
) -> None:
    """Adam on the parameters that still require gradients (a frozen base keeps its weights);
    ``on_epoch(epoch, mean training loss)`` after each epoch."""
    inputs = torch.as_tensor(X, device=device)
    targets = torch.as_tensor(y, device=device)
    trainable = [parameter for parameter in model.parameters() if parameter.requires_grad]
    optimizer = torch.optim.Adam(trainable, lr=learning_rate)
    order = torch.Generator().manual_seed(seed)
    for epoch in range(1, epochs + 1):
        model.train()
        total = 0.0
        for batch in torch.randperm(len(inputs), generator=order).split(batch_size):
            batch = batch.to(device)
            loss = functional.cross_entropy(model.logits(inputs[batch]), targets[batch])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            total += loss.item() * len(batch)
        if on_epoch is not None:
            on_epoch(epoch, total / len(inputs))
