"""The request and response shapes a replica speaks: Azure ML's ``/score``, MLflow's
``/invocations`` and the Open Inference Protocol V2 (with its binary tensor extension)."""
