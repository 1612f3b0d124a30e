"""The rules of each resource; used by the workspace server only."""
