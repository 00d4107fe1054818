"""Stage report: render reports/ (offline HTML, markdown twin, figures, metrics.json) from the stage outputs."""
from vitviz.core.runner import run
from vitviz.pipeline.args import stage_args
from vitviz.pipeline.params import load_params
from vitviz.report.build import build_report


def main() -> dict:
    args = stage_args(__doc__, "reports", per_model=False)
    build_report(load_params(args.params), args.data, args.out, args.params)
    return {}


if __name__ == "__main__":
    run(main, "report")
