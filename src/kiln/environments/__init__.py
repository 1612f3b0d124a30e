"""Environment builds: pip configuration for uv, content-addressed venvs, the build itself."""
