"""A functional-API model repaired by the full doctor, through ``model.builder``.

``functional_builder.yaml`` names ``builders:residual_mlp`` (a residual MLP written with
Keras' functional API, in ``builders.py`` beside this file). The doctor builds it from its
settings, trains it, diagnoses the stall (learning rate 1e-5), runs the remedies the
evidence points to on the same architecture, and keeps the repaired model.

    python examples/functional_builder_doctor.py [--out results]

The same run from the command line (the builder's folder on PYTHONPATH):

    PYTHONPATH=examples plateau-doctor run --config examples/functional_builder.yaml

``PLATEAU_DOCTOR_EXAMPLE_SMALL=1`` runs fewer epochs, as CI does.
"""

import argparse
import os
from pathlib import Path

import plateau_doctor

SMALL = os.environ.get("PLATEAU_DOCTOR_EXAMPLE_SMALL") == "1"
CONFIG = Path(__file__).resolve().parent / "functional_builder.yaml"


def main(out: str):
    small = {"training__epochs": 12, "remedies__budget_epochs": 40} if SMALL else {}
    result = plateau_doctor.run(CONFIG, output__dir=out, remedies__max_parallel=1, **small)
    print(f"verdict: {result.status}; causes: {[c['cause'] for c in result.causes]};"
          f" remedy: {result.summary['chosen_remedy']}; report: {result.paths.get('report_html')}")
    return result


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="results")
    main(parser.parse_args().out)
