"""The workspace server: FastAPI app, one router per resource, auth and the MLflow proxy."""
