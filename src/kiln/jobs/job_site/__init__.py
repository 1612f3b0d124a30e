"""Put on a job's PYTHONPATH so that its ``sitecustomize`` runs in every Python process of the job."""
