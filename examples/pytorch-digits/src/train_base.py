"""Train the base network: which digit (0-9) is in an 8x8 image (scikit-learn's bundled digits),
on the first half of the images; the other half is kept for the related task."""

import argparse

import mlflow
from digits_cnn import DigitsCNN, accuracy, digits_halves, fit

from kiln.integrations import torch as kiln_torch

parser = argparse.ArgumentParser()
parser.add_argument("--epochs", type=int, default=12)
parser.add_argument("--learning-rate", type=float, default=0.01)
parser.add_argument("--batch-size", type=int, default=64)
parser.add_argument("--channels", type=int, default=16)
parser.add_argument("--seed", type=int, default=0)
parser.add_argument("--model", required=True)
args = parser.parse_args()
settings = {name: value for name, value in vars(args).items() if name != "model"}  # not the output path

kiln_torch.seed(args.seed)
device = kiln_torch.device()
X_base, y_base, X_held_out, y_held_out = digits_halves()
mlflow.log_params({**settings, "device": str(device), "task": "digit 0-9", "train_images": len(X_base)})

model = DigitsCNN(classes=10, channels=args.channels).to(device)
with kiln_torch.tensorboard_writer() as board:

    def report(epoch: int, loss: float) -> None:
        metrics = {"train_loss": loss, "test_accuracy": accuracy(model, X_held_out, y_held_out, device)}
        mlflow.log_metrics(metrics, step=epoch)
        board.add_scalars(metrics, epoch)
        print(f"epoch {epoch:2d}: loss {loss:.4f}, held-out accuracy {metrics['test_accuracy']:.3f}", flush=True)

    fit(model, X_base, y_base, epochs=args.epochs, learning_rate=args.learning_rate, batch_size=args.batch_size,
        device=device, seed=args.seed, on_epoch=report)  # fmt: skip

held_out_accuracy = accuracy(model, X_held_out, y_held_out, device)
mlflow.log_metric("base_test_accuracy", held_out_accuracy)
print(f"base network on {device}, which digit: held-out accuracy {held_out_accuracy:.3f}")
kiln_torch.save_model(model, args.model, X_held_out)  # registered as digits-cnn when the job completes
