"""Were the healthy-labelled own fits that the callback calls slow really done? Ask the known fix.

    .venv/bin/python harness/longer_fix_audit.py --rows harness/measured/2026-12-05-s8/callback_rows.json \
        [--factor 3] [--sample 30] [--jobs 2] [--json audit.json]

An own fit is labelled ``healthy`` when section B of ``corpus/LABELING.md`` reads its curves as
healthy and its metric is within 0.05 of a linear scikit-learn reference (or of its sick
partner's fix, which for a fix is the fit itself). A linear reference is a floor of what the data
allow, not their ceiling, so a fit that stopped while still improving can be labelled healthy.
The doctor's callback compares with a stronger reference (gradient boosting) and calls some of
them ``slow_convergence``. Neither side decides here: the known fix for a fit stopped short is
more epochs. Each audited fit is fitted again exactly as its build script fits it (same data,
seed, model, optimizer, callbacks) with ``--factor`` times its epochs, and its main metric
(balanced accuracy, or R2 on the original scale) is compared with the one the label recorded.
Section A's own bar decides: a gain of 0.05 or more means the fit was stopped short (its fix
"reached a clearly better outcome"); less means it was done.

Audited: every healthy-labelled own fit the callback called sick (from ``--rows``, a
``callback_eval.py --json`` file), and a seeded random sample of ``--sample`` of those it called
healthy, so the same question is asked of both sides of the doctor's answer. The frozen labels
are not changed; this prints a second reading beside them.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import random
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
HARNESS = ROOT / "harness"
sys.path.insert(0, str(HARNESS))
from callback_eval import CORPORA, SEALED, fitting_process  # noqa: E402

BAR = 0.05
"""Section A's "clearly better": a main metric 0.05 or more higher."""


def _entries() -> dict[tuple[str, str], dict]:
    out = {}
    for corpus, (folder, _) in CORPORA.items():
        if corpus == SEALED:
            continue  # held out: never audited while the doctor is tuned
        for e in yaml.safe_load((ROOT / folder / "labels.yaml").read_text()):
            if e["origin"] == "own" and e["label"] == "healthy":
                out[(corpus, e["id"])] = e
    return out


def _worker(corpus: str, ids: list[str], factor: float, overrides: dict | None = None) -> list[dict]:
    cb = fitting_process(corpus, "longer_fix_")
    by_id = {s.id: s for s in cb.SPECS}
    rows = []
    for i in ids:
        spec = by_id[i]
        params = {**spec.params, **(overrides or {}), "epochs": int(round(spec.params["epochs"] * factor))}
        longer = dataclasses.replace(spec, params=params)
        start = time.time()
        meta = cb.run_fit(longer, verbose=0)
        rows.append({"corpus": corpus, "id": i, "epochs": spec.params["epochs"], "longer_epochs": meta["epochs_run"],
                     "metric": meta["main_metric"], "longer": float(meta["main"]), "seconds": round(time.time() - start, 1)})
        print(f"  {corpus} {i}: {meta['main_metric']} {meta['main']:.4f} after {meta['epochs_run']} epochs", file=sys.stderr, flush=True)
    return rows


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rows", type=Path, required=True, help="callback_eval.py --json rows of the seen corpora")
    ap.add_argument("--factor", type=float, default=3.0)
    ap.add_argument("--sample", type=int, default=30)
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--json", type=Path)
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                    help="another known fix: change the spec's params too (e.g. --set opt=adam --set lr=0.001, with --factor 1)")
    ap.add_argument("--only", nargs="*", help="audit these fit ids only (of the healthy-labelled own fits)")
    a = ap.parse_args(argv)
    overrides = {k: yaml.safe_load(v) for k, v in (item.split("=", 1) for item in a.set)}
    entries = _entries()
    verdicts = {(r["corpus"], r["id"]): r["verdict"] for r in json.loads(a.rows.read_text())["rows"]}
    called_sick = sorted(k for k in entries if verdicts.get(k) == "sick")
    called_healthy = sorted(k for k in entries if verdicts.get(k) == "healthy")
    sample = sorted(random.Random(19).sample(called_healthy, min(a.sample, len(called_healthy))))
    audited = called_sick + sample
    if a.only:
        audited = sorted(k for k in entries if k[1] in a.only)
    by_corpus: dict[str, list[str]] = {}
    for corpus, i in audited:
        by_corpus.setdefault(corpus, []).append(i)
    rows = []
    for corpus, ids in by_corpus.items():  # a pool per corpus: its build module patches corpus_build once per process
        chunks = [ids[k::a.jobs] for k in range(a.jobs) if ids[k::a.jobs]]
        with ProcessPoolExecutor(len(chunks)) as pool:
            rows += [r for part in pool.map(_worker, [corpus] * len(chunks), chunks, [a.factor] * len(chunks), [overrides] * len(chunks)) for r in part]
    for r in rows:
        e = entries[(r["corpus"], r["id"])]
        r["before"] = float(e["metrics"][r["metric"]])
        r["gain"] = r["longer"] - r["before"]
        r["stopped_short"] = r["gain"] >= BAR
        r["callback"] = verdicts[(r["corpus"], r["id"])]
    rows.sort(key=lambda r: (r["callback"], r["corpus"], r["id"]))
    print(f"{'corpus':9s} {'fit':44s} {'callback':8s} {'metric':22s} {'before':>7s} {'x' + format(a.factor, 'g'):>7s} {'gain':>7s} clearly better")
    for r in rows:
        print(f"{r['corpus']:9s} {r['id']:44s} {r['callback']:8s} {r['metric']:22s} {r['before']:7.4f} {r['longer']:7.4f}"
              f" {r['gain']:+7.4f} {'yes' if r['stopped_short'] else 'no'}")
    fix = f"{a.factor:g}x the epochs" + (f" and {overrides}" if overrides else "")
    for side, keys in (("called sick", called_sick), ("called healthy (sample)", sample)):
        part = [r for r in rows if (r["corpus"], r["id"]) in set(keys)]
        short = sum(r["stopped_short"] for r in part)
        print(f"healthy-labelled fits the callback {side}: {short}/{len(part)} gain {BAR} or more with {fix}"
              + (f" (of {len(called_healthy)} called healthy)" if side.startswith("called healthy") else ""))
    if a.json:
        a.json.write_text(json.dumps({"factor": a.factor, "sample": a.sample, "set": overrides, "rows": rows}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
