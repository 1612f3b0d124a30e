"""What training scripts repeat, one module per framework (sklearn, torch, tensorflow, keras) and for
TensorBoard's log folder and a distributed job's rank (tensorboard, distributed).

Importing one of them imports no framework and not MLflow: ``from kiln.integrations import torch as
kiln_torch`` is cheap. A function imports what it uses when called; a framework through
:mod:`kiln.extras`, so that a missing one names the extra that installs it (``kiln[torch]``).
``import kiln`` imports none of these modules.
"""
