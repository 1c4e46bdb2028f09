"""The doctor on the frozen real-log corpus (issue 19): curves alone, against labels it never saw.

    .venv/bin/python harness/corpus_eval.py [--json rows.json] [--split tune|heldout|all] [--with-task]
    .venv/bin/python harness/corpus_eval.py --corpus corpus/heldout2 --no-rows --json /elsewhere/rows.json

``--corpus`` names another frozen set with the same layout (labels.yaml, FROZEN, logs/); the
default is the original corpus. ``--no-rows`` prints only the figures (for a held-out set whose
per-log results must not reach whoever tunes the doctor).

For each log of corpus/labels.yaml it calls ``plateau_doctor.diagnose(path, out=None)`` (the
public API, nothing written) and compares the verdict with the label. ``unclear`` logs are
left out of every figure. A log the current reader cannot read (e.g. console text, until its
reader lands) is counted ``unreadable``, not a crash, and is left out of the rates (the
counts say how many). Figures per half (origin own / public) and per split (tune / heldout):

- healthy runs called sick (count and % of the readable healthy logs);
- sick runs detected (% of the readable sick logs called sick);
- accepted first cause (% of the readable sick logs whose top-ranked cause is in the label's
  accepted causes).

``--with-task`` also passes the task recorded in labels.yaml (what ``plateau-doctor diagnose
--task`` lets a user say); the default passes only the file, as a user would.

The corpus must be frozen first (corpus/FROZEN, whose sha256 of labels.yaml must match): the
script refuses otherwise, so the labels cannot follow the doctor's answers.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
import sys
import time
import warnings
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
CORPUS = ROOT / "corpus"


def _doctor(retries: int = 10, wait: float = 15.0):
    """``plateau_doctor.diagnose``; the package is being reorganised, so retry the import a while."""
    last = None
    for attempt in range(retries):
        try:
            import importlib

            for name in [m for m in sys.modules if m == "plateau_doctor" or m.startswith("plateau_doctor.")]:
                del sys.modules[name]
            pd_mod = importlib.import_module("plateau_doctor")
            return pd_mod.diagnose
        except Exception as exc:  # noqa: BLE001 - any import failure while files move
            last = exc
            print(f"import plateau_doctor failed ({type(exc).__name__}: {exc}); retry {attempt + 1}/{retries} in {wait:.0f} s",
                  file=sys.stderr)
            time.sleep(wait)
    raise SystemExit(f"plateau_doctor could not be imported: {last!r}")


def check_frozen() -> str:
    frozen = CORPUS / "FROZEN"
    if not frozen.exists():
        raise SystemExit(f"{frozen} is missing: freeze the labels (corpus/make_labels.py --freeze) before evaluating")
    want = re.search(r"labels.yaml sha256: ([0-9a-f]{64})", frozen.read_text()).group(1)
    have = hashlib.sha256((CORPUS / "labels.yaml").read_bytes()).hexdigest()
    if want != have:
        raise SystemExit(f"labels.yaml changed after the freeze (sha256 {have} != {want})")
    return have


def evaluate(entry: dict, diagnose, with_task: bool) -> dict:
    row = {"id": entry["id"], "origin": entry["origin"], "split": entry["split"], "label": entry["label"],
           "format": entry["format"], "accepted_causes": entry.get("accepted_causes") or [],
           "curve_visible": entry.get("curve_visible") is not False}
    kwargs = {"out": None}
    if with_task and entry.get("task"):
        kwargs["task"] = entry["task"]
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            result = diagnose(str(CORPUS / entry["file"]), **kwargs)
        summary = result.summary
        causes = [c["cause"] for c in summary.get("causes") or []]
        row.update(verdict=summary.get("status"), symptoms=summary.get("symptoms") or [], causes=causes,
                   first_cause=causes[0] if causes else None)
    except Exception as exc:  # noqa: BLE001 - a log the reader cannot take is a finding, not a crash
        row.update(verdict="unreadable", symptoms=[], causes=[], first_cause=None, error=f"{type(exc).__name__}: {exc}"[:300])
    if row["label"] == "sick" and row["verdict"] != "unreadable":
        row["accepted"] = row["first_cause"] in row["accepted_causes"]
    else:
        row["accepted"] = None
    return row


def figures(rows: list[dict]) -> dict:
    healthy = [r for r in rows if r["label"] == "healthy"]
    sick = [r for r in rows if r["label"] == "sick"]
    h_read = [r for r in healthy if r["verdict"] != "unreadable"]
    s_read = [r for r in sick if r["verdict"] != "unreadable"]
    false_alarms = sum(r["verdict"] == "sick" for r in h_read)
    detected = sum(r["verdict"] == "sick" for r in s_read)
    accepted = sum(bool(r["accepted"]) for r in s_read)

    def pct(a, b):
        return round(100.0 * a / b, 1) if b else None

    return {"healthy": len(healthy), "healthy_readable": len(h_read), "healthy_called_sick": false_alarms,
            "healthy_called_sick_pct": pct(false_alarms, len(h_read)),
            "sick": len(sick), "sick_readable": len(s_read), "sick_detected": detected, "sick_detected_pct": pct(detected, len(s_read)),
            "accepted_first_cause": accepted, "accepted_first_cause_pct": pct(accepted, len(s_read)),
            "unreadable": sum(r["verdict"] == "unreadable" for r in rows),
            "unclear_left_out": sum(r["label"] == "unclear" for r in rows)}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--json", help="write the per-log rows (and the figures) to this file")
    ap.add_argument("--split", choices=["tune", "heldout", "all"], default="all")
    ap.add_argument("--with-task", action="store_true", help="pass the task recorded in labels.yaml")
    ap.add_argument("--corpus", default=None, help="a frozen set's folder (default corpus/; e.g. corpus/heldout2)")
    ap.add_argument("--no-rows", action="store_true", help="print the figures only, not the per-log rows")
    a = ap.parse_args(argv)
    global CORPUS
    if a.corpus:
        CORPUS = (Path(a.corpus) if Path(a.corpus).is_absolute() else Path.cwd() / a.corpus).resolve()
    digest = check_frozen()
    entries = yaml.safe_load((CORPUS / "labels.yaml").read_text())
    if a.split != "all":
        entries = [e for e in entries if e["split"] == a.split]
    diagnose = _doctor()
    rows = [evaluate(e, diagnose, a.with_task) for e in entries]

    print(f"corpus: {CORPUS.relative_to(ROOT) if CORPUS.is_relative_to(ROOT) else CORPUS}, {len(rows)} logs "
          f"(labels.yaml sha256 {digest[:12]}...), task passed: {a.with_task}\n")
    if not a.no_rows:
        print(f"{'id':44s} {'origin':6s} {'split':7s} {'label':8s} {'verdict':10s} {'first cause':28s} accepted")
    for r in ([] if a.no_rows else rows):
        acc = "-" if r["accepted"] is None else ("yes" if r["accepted"] else "no")
        print(f"{r['id']:44s} {r['origin']:6s} {r['split']:7s} {r['label']:8s} {str(r['verdict']):10s} "
              f"{str(r['first_cause']):28s} {acc}")
    groups = {}
    for origin in ("own", "public"):
        for split in ("tune", "heldout"):
            groups[f"{origin}/{split}"] = [r for r in rows if r["origin"] == origin and r["split"] == split]
        groups[f"{origin}/all"] = [r for r in rows if r["origin"] == origin]
    for split in ("tune", "heldout"):
        groups[f"all/{split}"] = [r for r in rows if r["split"] == split]
    groups["all/all"] = rows
    # sick logs the labelling rules themselves read as sick (curve_visible), and those they cannot
    groups["sick/curve-visible"] = [r for r in rows if r["label"] == "sick" and r["curve_visible"]]
    groups["sick/invisible"] = [r for r in rows if r["label"] == "sick" and not r["curve_visible"]]
    table = {name: figures(g) for name, g in groups.items() if g}
    print("\nper half and split (unclear logs left out; rates over the readable logs)")
    print(f"{'group':20s} {'healthy':>8s} {'called sick':>14s} {'sick':>6s} {'detected':>14s} {'accepted 1st':>14s} {'unreadable':>10s} {'unclear':>8s}")
    for name, f in table.items():
        cs = f"{f['healthy_called_sick']}/{f['healthy_readable']} ({f['healthy_called_sick_pct']}%)"
        de = f"{f['sick_detected']}/{f['sick_readable']} ({f['sick_detected_pct']}%)"
        ac = f"{f['accepted_first_cause']}/{f['sick_readable']} ({f['accepted_first_cause_pct']}%)"
        print(f"{name:20s} {f['healthy']:8d} {cs:>14s} {f['sick']:6d} {de:>14s} {ac:>14s} {f['unreadable']:10d} {f['unclear_left_out']:8d}")
    if a.json:
        kept = {"labels_sha256": digest, "with_task": a.with_task, "figures": table}
        if not a.no_rows:  # a held-out set's per-log rows stay unwritten too
            kept["rows"] = rows
        Path(a.json).write_text(json.dumps(kept, indent=1))
        print(f"\n{'figures' if a.no_rows else 'rows'} written to {a.json}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
