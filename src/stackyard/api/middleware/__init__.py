"""Stackyard's pure ASGI middleware, outside all of FastAPI's layers, in the order a request meets them: the request
log, access control, body limits, then the run lane."""
