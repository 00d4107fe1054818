"""Models: specs, the model store, fetching, conversion, demo training, the name registry, and hookable sites."""
