"""Models: specs, model folders (save and load), transforms, fetching, conversion of foreign checkpoints, the name
registry, and the params of the zoo."""
