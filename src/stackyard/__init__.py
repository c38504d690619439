"""Stackyard: many Haystack pipelines behind one REST API, changed while the server runs."""

import os
from importlib.metadata import PackageNotFoundError, version

# Haystack reads this once, when it is first imported, and sends telemetry unless told not to. A server that
# hosts other people's pipelines must not phone home by default; users who want it set the variable themselves.
os.environ.setdefault("HAYSTACK_TELEMETRY_ENABLED", "false")

try:
    __version__ = version("stackyard")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0"

__all__ = ["__version__"]
