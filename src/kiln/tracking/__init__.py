"""MLflow as a supervised child of the workspace server, and the bridge from jobs to runs."""
