"""vitviz: what do vision transformers learn? Feature visualization, exemplars and probes for ViTs."""
__version__ = "0.1.0"
