"""Train the base network: which digit (0-9) is in an 8x8 image (scikit-learn's bundled digits),
on the first half of the images; the other half is kept for the related task."""

import argparse

import mlflow
from mlflow.models import infer_signature
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split
from sklearn.neural_network import MLPClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

parser = argparse.ArgumentParser()
parser.add_argument("--hidden", type=int, default=64)
parser.add_argument("--model", required=True)
args = parser.parse_args()

X, y = load_digits(return_X_y=True)
X_base, X_held_out, y_base, y_held_out = train_test_split(X, y, test_size=0.5, random_state=0, stratify=y)

base = make_pipeline(StandardScaler(), MLPClassifier(hidden_layer_sizes=(args.hidden,), max_iter=400, random_state=0))
base.fit(X_base, y_base)
accuracy = base.score(X_held_out, y_held_out)
mlflow.log_params({"hidden": args.hidden, "task": "digit 0-9"})
mlflow.log_metric("base_test_accuracy", accuracy)
print(f"base network, which digit: held-out accuracy {accuracy:.3f}")

# cloudpickle: skops (MLflow's default format) does not trust the MLP's optimizer state
mlflow.sklearn.save_model(
    base, args.model, serialization_format="cloudpickle",
    signature=infer_signature(X_held_out, base.predict(X_held_out)), input_example=X_held_out[:2],
)
