"""Fine-tune for a related task from few labels: is the digit odd or even? The registered base
network's convolutional layers, frozen, feed a new head trained on only a few labelled images
(of the half the base never saw). The same network trained from scratch on the same images is
the comparison, logged beside it."""

import argparse

import mlflow
from digits_cnn import DigitsCNN, accuracy, digits_halves, fit
from sklearn.model_selection import train_test_split

from kiln.integrations import torch as kiln_torch

parser = argparse.ArgumentParser()
parser.add_argument("--base", required=True, help="the registered base model (an MLflow model folder)")
parser.add_argument("--labels", type=int, default=40, help="how many labelled images the new task has")
parser.add_argument("--epochs", type=int, default=60)
parser.add_argument("--learning-rate", type=float, default=0.02)
parser.add_argument("--seed", type=int, default=0)
parser.add_argument("--model", required=True)
args = parser.parse_args()
settings = {name: value for name, value in vars(args).items() if name not in ("base", "model")}  # not paths

kiln_torch.seed(args.seed)
device = kiln_torch.device()
_, _, X_task, y_digit = digits_halves()  # the half the base never saw
odd = y_digit % 2
X_train, X_test, y_train, y_test = train_test_split(
    X_task, odd, train_size=args.labels, random_state=args.seed, stratify=odd
)
mlflow.log_params({**settings, "device": str(device), "task": "odd or even"})

# the registered model is a traced graph (MLflow's pt2 format): rebuild the network, take its weights
weights = mlflow.pytorch.load_model(args.base).state_dict()
base = DigitsCNN.like(weights)
base.load_state_dict(weights)
tuned = DigitsCNN.like(weights, classes=2)
tuned.features.load_state_dict(base.features.state_dict())
tuned.features.requires_grad_(False)  # frozen: only the new head learns
scratch = DigitsCNN.like(weights, classes=2)


def train(name: str, model: DigitsCNN) -> float:
    """Train on the few labels, with curves under ``name`` in MLflow and TensorBoard; the test accuracy."""
    model.to(device)
    with kiln_torch.tensorboard_writer(name) as board:

        def report(epoch: int, loss: float) -> None:
            mlflow.log_metric(f"{name}_train_loss", loss, step=epoch)
            board.add_scalar("train_loss", loss, epoch)

        fit(model, X_train, y_train, epochs=args.epochs, learning_rate=args.learning_rate,
            batch_size=args.labels, device=device, seed=args.seed, on_epoch=report)  # fmt: skip
    return accuracy(model, X_test, y_test, device)


results = {
    "finetuned_test_accuracy": train("finetuned", tuned),
    "from_scratch_test_accuracy": train("from_scratch", scratch),
}
mlflow.log_metrics(results)
for name, value in results.items():
    print(f"{name}: {value:.3f}")

kiln_torch.save_model(tuned, args.model, X_test)  # registered as digits-cnn-finetuned
