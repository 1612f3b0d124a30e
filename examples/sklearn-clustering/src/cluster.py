"""Clustering scikit-learn's bundled wine data with k-means; the labels it never saw judge it."""

import argparse

import mlflow
from sklearn.cluster import KMeans
from sklearn.datasets import load_wine
from sklearn.metrics import adjusted_rand_score, silhouette_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from kiln.integrations import sklearn as kiln_sklearn

parser = argparse.ArgumentParser()
parser.add_argument("--clusters", type=int, default=3)
parser.add_argument("--model", required=True)
args = parser.parse_args()

X, y = load_wine(return_X_y=True, as_frame=True)
model = make_pipeline(StandardScaler(), KMeans(n_clusters=args.clusters, n_init=10, random_state=0)).fit(X)
clusters = model.predict(X)
metrics = {
    "silhouette": silhouette_score(model[:-1].transform(X), clusters),
    "adjusted_rand_vs_cultivar": adjusted_rand_score(y, clusters),
    "inertia": model[-1].inertia_,
}
mlflow.log_param("clusters", args.clusters)
mlflow.log_metrics(metrics)
print(", ".join(f"{k} {v:.3f}" for k, v in metrics.items()))
kiln_sklearn.save_model(model, args.model, X)
