"""How definitions change and every process follows: the manager (the update path), the sync (converging to the
store), the heartbeat (what this replica reports) and the seeding of start-up files."""
