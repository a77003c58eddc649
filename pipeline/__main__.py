"""`python -m pipeline` is `adlib` (used by tests and when the script is not on PATH)."""

from pipeline.cli import main

if __name__ == "__main__":  # a spawned worker process (the refresh's) must not run the CLI
    main()
