"""The generated report: sections built from stage outputs, rendered to HTML and markdown."""
from .build import build_report

__all__ = ["build_report"]
