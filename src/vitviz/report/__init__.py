"""The generated report: sections built from stage outputs (report.build), rendered to HTML and markdown."""
