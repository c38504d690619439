"""What the server tells about itself: Prometheus metrics, Haystack's tracer, OpenTelemetry, logs, and what one
process reports."""
