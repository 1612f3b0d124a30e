"""A frozen feature extractor: the hidden layer of an already trained MLP pipeline."""

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin


class FrozenHiddenLayer(TransformerMixin, BaseEstimator):
    """Maps inputs to the base network's hidden activations; ``fit`` learns nothing (the base is frozen)."""

    def __init__(self, base=None):
        self.base = base

    def fit(self, X, y=None):
        return self

    def transform(self, X):
        scaled = self.base[:-1].transform(np.asarray(X, dtype=float))
        network = self.base[-1]
        return np.maximum(scaled @ network.coefs_[0] + network.intercepts_[0], 0.0)
