"""What one server process serves and how a run reaches it: the registry of live revisions, the leases and gates
runs hold, the placement rule, and the cells where component code runs (the pool, one cell's process, its socket).
Nothing here imports Haystack: component code is `stackyard.cell`'s business."""
