"""Scored model comparisons (``kiln model compare --data``): two registered versions predict on a data asset's rows
and scikit-learn's metric functions turn their answers into the gate's numbers.

- ``metrics``: ``score(name, labels, predictions)`` for each of ``kiln.specs.model_compare.SCORED_METRICS``;
- ``process``: ``python -m kiln.model_scoring.process``, the child process the workspace server starts (in the job
  sandbox where one works) to load the versions with MLflow's pyfunc and score them: a user's model never runs in
  the server's own process (``kiln.services.model_scoring`` prepares its folder and reads its answer).
"""
