"""The HTTP API: one parametric route per action, pipelines looked up in the registry at request time."""

from stackyard.api.app import create_app

__all__ = ["create_app"]
