"""Core: settings and their errors, the runtime and its fast paths, thread sharing, distributed sharding, atomic writes,
the stage runner and run facts."""
