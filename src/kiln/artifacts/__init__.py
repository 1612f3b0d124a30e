"""The artifact store (over fsspec: a local folder, or s3:// for teams) holding code snapshots, uploaded
inputs, job outputs and logs; and its root, checked at start."""

from kiln.artifacts.store import ArtifactStore

__all__ = ["ArtifactStore"]
