"""What crosses between the server process and its cells: plain data only, importable without Haystack.

The server side (HTTP, registry, sync, store) imports this package and never `stackyard.cell`; the cells import
both. A job names what to do (`jobs`), a reply says what came of it (`replies`), and `framing` is how both travel.
"""
