"""The solver: recipes + requirements + target facts -> a recipe graph, then per-ecosystem
closures (PyPI through uv) -> the lock. It installs nothing and never touches an environment."""
