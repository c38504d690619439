"""What one process serves and how a run goes: the registry of live revisions, the leases runs hold on them, the
per-pipeline gates, the run itself (inputs in, plain JSON out), uploads, document stores and their guard."""
