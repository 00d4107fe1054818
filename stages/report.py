"""Stage report: render reports/ (offline HTML, markdown twin, figures, metrics.json) from the stage outputs."""
import argparse

from vitviz.core.config import load_params
from vitviz.report import build_report
from vitviz.core.runner import run


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--params", default="params.yaml")
    ap.add_argument("--data", default="data")
    ap.add_argument("--out", default="reports")
    args = ap.parse_args()
    build_report(load_params(args.params), args.data, args.out, args.params)
    return {}


if __name__ == "__main__":
    run(main, "report")
