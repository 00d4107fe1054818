"""The feature atlas: a static site (file://, no network) with every mined feature of a model and its evidence."""
