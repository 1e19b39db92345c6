"""`python -m runner` runs the command line."""

from runner.cli import main

if __name__ == "__main__":  # not when a worker process of `run --jobs N` imports the main module
    raise SystemExit(main())
