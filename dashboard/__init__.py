"""mlenv.dashboard: the static results site (CONTRACTS §15)."""
