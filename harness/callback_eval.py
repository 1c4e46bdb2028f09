"""The doctor inside the users' own fits: each labelled own fit of a frozen corpus, fitted again
exactly as its build script fits it, with ``DoctorCallback`` attached, against the corpus' label.

    .venv/bin/python harness/callback_eval.py --corpus heldout6 [--jobs 2] [--json rows.json] [--no-rows]
    .venv/bin/python harness/callback_eval.py --corpus c1 --only own_digits_mlp_bad_init

``corpus_eval.py`` reads the logs alone (``plateau-doctor diagnose``); a user who attaches the
callback gives the doctor more: the model (its output activation, loss, widths, initial
weights), a probe of validation rows (dead units, collapsed outputs, the doctor's own scores) and,
with ``reference=(x, y)``, the training rows for a quick scikit-learn reference (the attainable
level). Faults a log cannot show (a ReLU output on a signed target, a 2-unit bottleneck, 3%
positives, raw units) are the callback's to find. This measures whether it does.

The fit is the build script's own (``run_fit`` of ``harness/corpus_build*.py``: the same data,
seed, model, optimizer, schedule and callbacks), with the logs written to a scratch folder, never
into the frozen corpus; the only change is ``DoctorCallback(reference=(x_train, y_train),
write=False)`` appended to the fit's callbacks, as a user would add it. The label is the frozen
corpus' (how the run was built and what its fix did); ``unclear`` fits are left out. Figures as
``corpus_eval.py`` gives them: healthy fits called sick, sick fits detected, accepted first
cause; the sick fits whose faults the labelling rules call invisible in the curves
(``curve_visible: false``) are also counted apart.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
HARNESS = ROOT / "harness"
HELDOUT_NUMBERS = sorted(int(folder.name[len("heldout"):]) for folder in (ROOT / "corpus").glob("heldout*")
                         if folder.name[len("heldout"):].isdigit())
# corpus name -> (its folder, the build module whose import points corpus_build at it)
CORPORA = {"c1": ("corpus", "corpus_build"),
           **{f"heldout{k}": (f"corpus/heldout{k}", f"corpus_build{k}") for k in HELDOUT_NUMBERS}}
SEALED = f"heldout{HELDOUT_NUMBERS[-1]}"
"""The newest held-out set: read as aggregates only (``--no-rows``) while the doctor is tuned."""


def labelled_own(corpus: str) -> list[dict]:
    folder = ROOT / CORPORA[corpus][0]
    loaded = yaml.safe_load((folder / "labels.yaml").read_text())
    entries = loaded["logs"] if isinstance(loaded, dict) else loaded
    return [e for e in entries if e["origin"] == "own" and e["label"] in ("healthy", "sick")]


def _attach_doctor(keras, found: dict) -> None:
    """Every ``Model.fit`` in this process gets a DoctorCallback, as a user adds one."""
    from plateau_doctor.training.callback import DoctorCallback

    original = keras.Model.fit

    def fit(model, x=None, y=None, *args, callbacks=None, **kwargs):
        doctor = DoctorCallback(reference=(x, y), write=False, verbose=False)
        found["doctor"] = doctor
        return original(model, x, y, *args, callbacks=[*(callbacks or []), doctor], **kwargs)

    keras.Model.fit = fit


def fitting_process(corpus: str, prefix: str):
    """Ready this process to refit ``corpus``' own fits as its build script does, and return the
    build module: one corpus per process (its build module patches ``corpus_build`` once), the fits'
    logs written to a scratch folder, never into the frozen corpus."""
    os.environ.setdefault("KERAS_BACKEND", "tensorflow")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    sys.path.insert(0, str(HARNESS))
    sys.path.insert(0, str(ROOT))
    import corpus_build as cb

    importlib.import_module(CORPORA[corpus][1])  # patches cb: that corpus' specs, data and fit
    scratch = Path(tempfile.mkdtemp(prefix=prefix))
    (scratch / "logs").mkdir()
    cb.point_at(scratch, cb.SCRIPT)
    cb._setup_tf()
    return cb


def _worker(corpus: str, ids: list[str], quiet: bool = False) -> list[dict]:
    """Fit ``ids`` with the doctor attached. ``quiet`` (a held-out set's ``--no-rows``): nothing a fit
    prints reaches the terminal, the doctor's warnings and the progress lines name verdicts."""
    if quiet:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, 1)
        os.dup2(devnull, 2)
    cb = fitting_process(corpus, "callback_eval_")
    import keras

    found: dict = {}
    _attach_doctor(keras, found)
    by_id = {s.id: s for s in cb.SPECS}
    rows = []
    for i in ids:
        start = time.time()
        found.clear()
        row = {"id": i}
        try:
            cb.run_fit(by_id[i], verbose=0)
            diagnosis = found["doctor"].diagnosis
            if diagnosis is None:
                raise RuntimeError("the callback wrote no diagnosis (it failed inside the fit; see its warning)")
            causes = [c.name for c in diagnosis.causes]
            row.update(verdict=diagnosis.status, symptoms=[s.name for s in diagnosis.symptoms], causes=causes,
                       first_cause=causes[0] if causes else None,
                       evidence=[f"{f.name}: {f.evidence}" for f in [*diagnosis.symptoms[:2], *diagnosis.causes[:2]]])
        except Exception as exc:  # one fit's failure is a row, not the end of the evaluation
            row.update(verdict="failed", symptoms=[], causes=[], first_cause=None, error=f"{type(exc).__name__}: {exc}"[:300])
        row["seconds"] = round(time.time() - start, 1)
        print(f"  {i}: {row['verdict']} {row.get('first_cause')} ({row['seconds']} s)", file=sys.stderr, flush=True)
        rows.append(row)
    return rows


def figures(rows: list[dict]) -> dict:
    healthy = [r for r in rows if r["label"] == "healthy" and r["verdict"] != "failed"]
    sick = [r for r in rows if r["label"] == "sick" and r["verdict"] != "failed"]
    out = {"healthy": len(healthy), "false_alarms": sum(r["verdict"] == "sick" for r in healthy),
           "sick": len(sick), "detected": sum(r["verdict"] == "sick" for r in sick),
           "accepted": sum(r["first_cause"] in r["accepted_causes"] for r in sick),
           "failed": sum(r["verdict"] == "failed" for r in rows)}
    for name, keep in (("visible", True), ("invisible", False)):
        part = [r for r in sick if bool(r.get("curve_visible", True)) == keep]
        out[f"sick_{name}"] = len(part)
        out[f"detected_{name}"] = sum(r["verdict"] == "sick" for r in part)
        out[f"accepted_{name}"] = sum(r["first_cause"] in r["accepted_causes"] for r in part)
    return out


def _line(name: str, f: dict) -> str:
    def pct(a, b):
        return f"{a}/{b} ({100 * a / b:.0f}%)" if b else "0/0"
    return (f"{name:12s} healthy called sick {pct(f['false_alarms'], f['healthy']):14s} detected {pct(f['detected'], f['sick']):14s} "
            f"accepted {pct(f['accepted'], f['sick']):14s} | curve-visible {f['detected_visible']}/{f['sick_visible']} detected, "
            f"{f['accepted_visible']} accepted; invisible {f['detected_invisible']}/{f['sick_invisible']}, "
            f"{f['accepted_invisible']} accepted; failed {f['failed']}")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--corpus", action="append", choices=sorted(CORPORA), required=True)
    ap.add_argument("--only", nargs="*", help="these fit ids only")
    ap.add_argument("--label", choices=["healthy", "sick"], help="these labels only")
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--json", type=Path)
    ap.add_argument("--no-rows", action="store_true",
                    help="figures only: no per-fit line, no fit's output, and --json keeps the figures (a held-out set's per-fit results stay unseen)")
    a = ap.parse_args(argv)
    all_rows = []
    for corpus in a.corpus:
        entries = [e for e in labelled_own(corpus) if (not a.only or e["id"] in a.only) and (not a.label or e["label"] == a.label)]
        chunks = [[e["id"] for e in entries[k::a.jobs]] for k in range(a.jobs)]
        with ProcessPoolExecutor(a.jobs) as pool:
            parts = pool.map(_worker, [corpus] * len(chunks), chunks, [a.no_rows] * len(chunks))
            done = [row for part in parts for row in part]
        by_id = {r["id"]: r for r in done}
        for e in entries:
            row = by_id[e["id"]]
            row.update(corpus=corpus, label=e["label"], accepted_causes=e.get("accepted_causes") or [],
                       curve_visible=e.get("curve_visible", True))
            all_rows.append(row)
        print(_line(corpus, figures([r for r in all_rows if r["corpus"] == corpus])), flush=True)
    if len(a.corpus) > 1:
        print(_line("all", figures(all_rows)))
    if not a.no_rows:
        for r in all_rows:
            if (r["label"] == "healthy") == (r["verdict"] == "healthy") and (r["label"] == "healthy" or r["first_cause"] in r["accepted_causes"]):
                continue
            print(f"{r['corpus']:9s} {r['id']:42s} {r['label']:7s} {r['verdict']:8s} {r['first_cause']} "
                  f"(accepted {r['accepted_causes']}; visible {r['curve_visible']}) {r.get('error', '')}")
    if a.json:
        kept = ({"figures": {c: figures([r for r in all_rows if r["corpus"] == c]) for c in a.corpus}} if a.no_rows
                else {"rows": all_rows})
        a.json.write_text(json.dumps(kept, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
