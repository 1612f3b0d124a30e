"""A model's exact homomorphic form: affine layers with squares between them, and the link the client
applies after decryption. Extracted once from the model (at deployment create, and when a replica loads);
anything without such a form is refused with the list of what is supported.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from kiln.errors import UnsupportedModel

SUPPORTED = (
    "scikit-learn LogisticRegression (binary and multinomial), LinearRegression, Ridge, LinearSVC, "
    "SGDClassifier, SGDRegressor; a PyTorch nn.Sequential of Linear layers with square activations "
    "(kiln.integrations.encrypted.Square)"
)
LINKS = ("identity", "sigmoid", "softmax", "scores")  # scores: labels by sign (one column) or argmax


@dataclass
class HomomorphicForm:
    """``layers``: (weights (outputs × inputs), bias) pairs; a square between consecutive layers."""

    kind: str
    layers: list[tuple[np.ndarray, np.ndarray]]
    link: str = "identity"
    classes: list[Any] | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def n_features(self) -> int:
        return int(self.layers[0][0].shape[1])

    @property
    def n_outputs(self) -> int:
        return int(self.layers[-1][0].shape[0])

    @property
    def depth(self) -> int:
        """Multiplications on the ciphertexts' chain: one per layer, one per square."""
        return 2 * len(self.layers) - 1

    @property
    def is_linear(self) -> bool:
        return len(self.layers) == 1

    def scores(self, X: np.ndarray) -> np.ndarray:
        """The plaintext computation the server does on ciphertexts (the reference in tests and benches)."""
        h = np.asarray(X, dtype=np.float64)
        for index, (weights, bias) in enumerate(self.layers):
            h = h @ weights.T + bias
            if index < len(self.layers) - 1:
                h = h * h
        return h

    def describe(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "n_features": self.n_features,
            "n_outputs": self.n_outputs,
            "layers": len(self.layers),
            "link": self.link,
            "classes": [c.item() if hasattr(c, "item") else c for c in self.classes] if self.classes else None,
        }


def form_of(model: Any) -> HomomorphicForm:
    """The form of a fitted scikit-learn estimator or a PyTorch Sequential; UnsupportedModel otherwise."""
    name = type(model).__name__
    if hasattr(model, "coef_") and name in _SKLEARN:
        return _sklearn_form(model, name)
    if name == "Sequential":
        return _torch_form(model)
    raise UnsupportedModel(f"{name} has no exact homomorphic form kiln serves; supported: {SUPPORTED}")


_SKLEARN = {
    "LogisticRegression": "classifier",
    "LinearRegression": "regressor",
    "Ridge": "regressor",
    "LinearSVC": "scores",
    "SGDClassifier": "scores",
    "SGDRegressor": "regressor",
}


def _sklearn_form(model: Any, name: str) -> HomomorphicForm:
    weights = np.atleast_2d(np.asarray(model.coef_, dtype=np.float64))
    bias = np.atleast_1d(np.asarray(model.intercept_, dtype=np.float64)).reshape(-1)
    if bias.size == 1 and weights.shape[0] > 1:
        bias = np.repeat(bias, weights.shape[0])
    role = _SKLEARN[name]
    classes = list(getattr(model, "classes_", [])) or None
    if role == "classifier":
        link = "sigmoid" if weights.shape[0] == 1 else "softmax"
    elif role == "scores":
        link = "scores"
    else:
        link = "identity"
    if not np.all(np.isfinite(weights)) or not np.all(np.isfinite(bias)):
        raise UnsupportedModel(f"{name} has weights that are not finite numbers")
    return HomomorphicForm(name, [(weights, bias)], link, classes)


def _torch_form(model: Any) -> HomomorphicForm:
    import torch

    layers: list[tuple[np.ndarray, np.ndarray]] = []
    expect_linear = True
    for index, module in enumerate(model):
        kind = type(module).__name__
        if kind == "Linear" and expect_linear:
            weights = module.weight.detach().to(torch.float64).cpu().numpy()
            bias = (
                module.bias.detach().to(torch.float64).cpu().numpy()
                if module.bias is not None
                else np.zeros(weights.shape[0])
            )
            layers.append((weights, bias))
            expect_linear = False
        elif not expect_linear and _is_square(module):
            expect_linear = True
        else:
            raise UnsupportedModel(
                f"layer {index} of the Sequential is {kind}: encrypted scoring needs Linear layers with a square "
                f"activation between each two; supported: {SUPPORTED}"
            )
    if not layers or expect_linear:
        raise UnsupportedModel(f"the Sequential must start and end with a Linear layer; supported: {SUPPORTED}")
    for (w_prev, _), (w_next, _) in zip(layers, layers[1:], strict=False):
        if w_prev.shape[0] != w_next.shape[1]:
            raise UnsupportedModel("the Sequential's Linear layers do not chain (outputs ≠ next inputs)")
    return HomomorphicForm("Sequential", layers, "scores", list(range(layers[-1][0].shape[0])))


def _is_square(module: Any) -> bool:
    import torch

    if type(module).__name__ != "Square":
        return False
    probe = torch.tensor([[2.0, -3.0, 0.5]])
    with torch.no_grad():
        answer = module(probe)
    return bool(torch.allclose(answer, probe * probe))


def load_form(model_dir: Path) -> HomomorphicForm:
    """The form of the MLflow model in ``model_dir`` (its sklearn or pytorch flavor)."""
    from kiln.specs.yaml_source import load_yaml

    mlmodel = model_dir / "MLmodel"
    if not mlmodel.is_file():
        raise UnsupportedModel(f"encrypted scoring needs an MLflow model; {model_dir} has no MLmodel file")
    data = load_yaml(mlmodel.read_text(errors="replace"), "MLmodel")[1]
    flavors = data.get("flavors", {}) if isinstance(data, dict) else {}
    if "sklearn" in flavors:
        import mlflow.sklearn

        return form_of(mlflow.sklearn.load_model(str(model_dir)))
    if "pytorch" in flavors:
        import mlflow.pytorch

        return form_of(mlflow.pytorch.load_model(str(model_dir), map_location="cpu"))
    raise UnsupportedModel(
        f"encrypted scoring reads the sklearn or pytorch flavor; this model has {sorted(flavors) or 'none'}; "
        f"supported: {SUPPORTED}"
    )


def apply_link(scores: np.ndarray, link: str) -> np.ndarray:
    """Sigmoid or softmax after decryption (the client's side); identity and scores as they are."""
    if link == "sigmoid":
        return np.asarray(1.0 / (1.0 + np.exp(-scores)))
    if link == "softmax":
        e = np.exp(scores - scores.max(axis=1, keepdims=True))
        return np.asarray(e / e.sum(axis=1, keepdims=True))
    return scores


def labels(scores: np.ndarray, classes: list[Any] | None) -> np.ndarray:
    """Class labels from decrypted scores: sign of one column, else argmax (as scikit-learn's predict)."""
    picks = (scores[:, 0] > 0).astype(int) if scores.shape[1] == 1 else scores.argmax(axis=1)
    return np.asarray(classes, dtype=object)[picks] if classes else picks


def next_power_of_two(n: int) -> int:
    return 1 if n <= 1 else 1 << math.ceil(math.log2(n))
