"""`python -m stackyard` is the `stackyard` command."""

from stackyard.cli import main

main()
