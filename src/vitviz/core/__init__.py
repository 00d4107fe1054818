"""Core: params, errors, runtime and fast paths, distributed sharding, atomic writes, the stage runner and run facts."""
