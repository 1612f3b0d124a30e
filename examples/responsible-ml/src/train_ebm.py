"""Train InterpretML's Explainable Boosting Machine (a glass-box model: its explanation is the model itself),
log its global explanation with the run (per-feature importances as metrics, the whole explanation as
ebm_global_explanation.json) and save it as an MLflow model, registered as `credit-ebm` when the job completes.

outer_bags=2 and no interaction search keep the fit under a second on this table (defaults take 20-40 s)."""

import argparse
import json
from pathlib import Path

import mlflow
import pandas as pd
from interpret.glassbox import ExplainableBoostingClassifier

from kiln.integrations.sklearn import save_model
from kiln.integrations.tensorflow import pinned_requirements

SENSITIVE = ("sex", "age_group")
TARGET = "default"

parser = argparse.ArgumentParser()
parser.add_argument("--train", type=Path, required=True)
parser.add_argument("--test", type=Path, required=True)
parser.add_argument("--model", type=Path, required=True)
parser.add_argument("--outer-bags", type=int, default=2)
parser.add_argument("--interactions", type=int, default=0)
args = parser.parse_args()

train, test = pd.read_csv(args.train), pd.read_csv(args.test)
features = train.drop(columns=[TARGET, *SENSITIVE])
ebm = ExplainableBoostingClassifier(outer_bags=args.outer_bags, interactions=args.interactions, random_state=0)
ebm.fit(features, train[TARGET])
accuracy = ebm.score(test[features.columns], test[TARGET])
mlflow.log_params({"outer_bags": args.outer_bags, "interactions": args.interactions})
mlflow.log_metric("test_accuracy", accuracy)

explanation = ebm.explain_global().data()
importances = dict(zip(explanation["names"], (float(s) for s in explanation["scores"]), strict=True))
mlflow.log_metrics({f"importance.{name}": value for name, value in importances.items()})
mlflow.log_dict({"method": "ebm", "importances": importances}, "ebm_global_explanation.json")
ranked = sorted(importances.items(), key=lambda item: -item[1])
print(f"test accuracy {accuracy:.3f}; global explanation: " + ", ".join(f"{k} {v:.3f}" for k, v in ranked))
Path("outputs").mkdir(exist_ok=True)
Path("outputs/ebm_global_explanation.json").write_text(json.dumps(importances, indent=2))

save_model(
    ebm, args.model, features, serialization_format="cloudpickle",  # skops does not know interpret's types
    pip_requirements=pinned_requirements("mlflow", "numpy", "pandas", "scikit-learn", "interpret-core"),
)  # fmt: skip
