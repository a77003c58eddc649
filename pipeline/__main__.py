"""`python -m pipeline` is `adlib` (used by tests and when the script is not on PATH)."""

from pipeline.cli import main

main()
