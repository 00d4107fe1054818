"""The generated report: sections built from stage outputs, rendered to HTML and markdown."""
from vitviz.report.build import build_report

__all__ = ["build_report"]
