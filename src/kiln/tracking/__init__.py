"""MLflow in the workspace: its tracking server as a supervised child (and its store), ``/mlflow``
proxied with kiln's auth and access rules, its model registry as the workspace uses it, and the
bridge from jobs to runs."""
