"""The command-line fixtures (`make_project`, `project`, `mlenv`, `resolved`, `installed`, `cli`)
live in `tests/conftest.py`, shared with tests/security and the other folders; the machinery is in
`tests/support/localpypi.py`."""
