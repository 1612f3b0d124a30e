"""DP-SGD on a private data version: a logistic regression in PyTorch, made private by Opacus'
``make_private_with_epsilon`` for the (epsilon, delta) the job declared (and was charged at submit). The accountant's
epsilon is logged to MLflow; the job fails if it exceeds what was declared. Otherwise the model is saved as an MLflow
model whose MLmodel asks for the achieved epsilon and delta as its registered version's tags (kiln adds what the
ledger charged); its signature comes from zeros of the features' shape, never from a private row."""

from __future__ import annotations

import argparse
import csv
import sys

import mlflow
import torch
from torch.utils.data import DataLoader, TensorDataset

from kiln.extras import require_extra


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--data", required=True)
    parser.add_argument("--label", required=True)
    parser.add_argument("--features", required=True, help="comma-separated columns")
    parser.add_argument("--epsilon", type=float, required=True)
    parser.add_argument("--delta", type=float, required=True)
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--model", help="where to save the trained model (the job's ${{outputs.model}})")
    args = parser.parse_args()
    features = args.features.split(",")
    with open(args.data, newline="") as handle:
        rows = list(csv.DictReader(handle))
    x = torch.tensor([[float(r[f]) for f in features] for r in rows])
    y = torch.tensor([float(r[args.label]) for r in rows]).unsqueeze(1)
    torch.manual_seed(0)
    model = torch.nn.Linear(len(features), 1)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.5)
    loader = DataLoader(TensorDataset(x, y), batch_size=64, shuffle=True)
    opacus = require_extra("privacy", "opacus", needed_by="the DP-SGD example")  # else: pip install "kiln[privacy]"
    engine = opacus.PrivacyEngine(accountant="rdp")
    model, optimizer, loader = engine.make_private_with_epsilon(
        module=model, optimizer=optimizer, data_loader=loader, target_epsilon=args.epsilon,
        target_delta=args.delta, epochs=args.epochs, max_grad_norm=1.0,
    )  # fmt: skip
    loss_of = torch.nn.BCEWithLogitsLoss()
    for _ in range(args.epochs):
        for batch_x, batch_y in loader:
            optimizer.zero_grad()
            loss_of(model(batch_x), batch_y).backward()
            optimizer.step()
    with torch.no_grad():
        accuracy = float(((model(x) > 0).float() == y).float().mean())
    achieved = engine.get_epsilon(args.delta)
    mlflow.log_metrics({"accuracy": accuracy, "dp_epsilon": achieved})
    mlflow.log_params({"dp_epsilon_declared": args.epsilon, "dp_delta": args.delta})
    print(f"accuracy {accuracy:.3f}; achieved epsilon {achieved:.3f} (declared {args.epsilon}, delta {args.delta})")
    if achieved > args.epsilon:
        sys.exit(f"achieved epsilon {achieved:.3f} exceeds the declared {args.epsilon}: the model is not released")
    if args.model:
        from kiln.integrations.torch import save_model

        guarantee = {"privacy.epsilon": achieved, "privacy.delta": args.delta, "privacy.accountant": "opacus rdp"}
        # the Opacus wrapper's module is the plain model; the example is made up: a saved example must hold no row
        save_model(model._module, args.model, torch.zeros(2, len(features)), metadata={"kiln_version_tags": guarantee})


if __name__ == "__main__":
    main()
