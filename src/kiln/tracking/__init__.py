"""MLflow as a supervised child of the workspace server, and the bridge from jobs to runs; and, on
the user's side, TensorBoard over jobs (their MLflow metrics exported as event files)."""
