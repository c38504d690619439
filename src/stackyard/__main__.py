"""`python -m stackyard` is the `stackyard` command."""

from stackyard.cli import main

# Guarded: cells import the main module again as `__mp_main__` (multiprocessing's fork server).
if __name__ == "__main__":
    main()
