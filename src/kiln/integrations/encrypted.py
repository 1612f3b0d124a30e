"""Models that encrypted deployments serve exactly: a PyTorch network of Linear layers with square
activations (``Square``), built and trained here; ``kiln.encrypted.model_form`` reads it back.

    net = square_network(64, 10, hidden=(32,))
    train_square_network(net, X, y, epochs=50)
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from kiln.extras import require_extra


def _torch() -> Any:
    return require_extra("torch", "torch", needed_by="kiln.integrations.encrypted")


def _square_class() -> type:
    torch = _torch()

    class Square(torch.nn.Module):  # type: ignore[misc,name-defined]
        """x ↦ x²: the activation CKKS computes exactly (one multiplication)."""

        def forward(self, x: Any) -> Any:
            return x * x

    Square.__module__ = __name__
    Square.__qualname__ = "Square"
    return Square


_SQUARE: type | None = None


def __getattr__(name: str) -> Any:
    global _SQUARE
    if name == "Square":
        if _SQUARE is None:
            _SQUARE = _square_class()
        return _SQUARE
    raise AttributeError(name)


def square_network(n_features: int, n_outputs: int, hidden: Sequence[int] = (32,)) -> Any:
    """``Linear → Square → … → Linear``: the outputs are scores (logits for a classifier)."""
    torch = _torch()
    square = __getattr__("Square")
    layers: list[Any] = []
    width = n_features
    for size in hidden:
        layers += [torch.nn.Linear(width, size), square()]
        width = size
    layers.append(torch.nn.Linear(width, n_outputs))
    return torch.nn.Sequential(*layers)


def train_square_network(
    network: Any, X: Any, y: Any, *, epochs: int = 60, learning_rate: float = 0.01, seed: int = 0
) -> Any:
    """Full-batch Adam on cross-entropy (integer class labels ``y``); returns the network, in eval mode."""
    torch = _torch()
    torch.manual_seed(seed)
    inputs = torch.as_tensor(np.asarray(X, dtype=np.float32))
    targets = torch.as_tensor(np.asarray(y, dtype=np.int64))
    optimizer = torch.optim.Adam(network.parameters(), lr=learning_rate)
    network.train()
    for _ in range(epochs):
        optimizer.zero_grad()
        loss = torch.nn.functional.cross_entropy(network(inputs), targets)
        loss.backward()
        optimizer.step()
    return network.eval()
