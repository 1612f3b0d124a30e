"""What training scripts repeat, one lazily imported module per framework.

``from kiln.integrations import sklearn as kiln_sklearn`` imports scikit-learn and MLflow only
then; ``import kiln`` imports neither.
"""
