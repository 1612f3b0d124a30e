from kiln.artifacts.store import ArtifactStore

__all__ = ["ArtifactStore"]
