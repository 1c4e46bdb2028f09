"""The curves alone on every seen corpus at once (the first corpus and every held-out set but the newest), per half, and
which logs read differently from an earlier run's rows.

    PYTHONPATH=<checkout> python harness/corpus_eval_seen.py --json now.json [--against before.json]

``corpus_eval.py`` reports one frozen set at a time; tuning reads all seen sets together, and a
change is judged by the logs it moved. The rows are ``corpus_eval.evaluate``'s (the public
``plateau_doctor.diagnose`` on each file, nothing written), with the set they came from. The newest
held-out set (``callback_eval.SEALED``, now heldout10) is never read here: its figures come from
``corpus_eval.py --corpus corpus/heldout<n> --no-rows``.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "harness"))
import corpus_eval  # noqa: E402
from callback_eval import HELDOUT_NUMBERS  # noqa: E402

SEEN = ("corpus", *(f"corpus/heldout{k}" for k in HELDOUT_NUMBERS[:-1]))  # the newest is held out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--json", type=Path, required=True, help="write the rows here")
    ap.add_argument("--against", type=Path, help="an earlier run's rows: list the logs whose reading changed")
    a = ap.parse_args(argv)
    diagnose = corpus_eval._doctor()
    rows = []
    for folder in SEEN:
        corpus_eval.CORPUS = ROOT / folder
        corpus_eval.check_frozen()
        for entry in yaml.safe_load((corpus_eval.CORPUS / "labels.yaml").read_text()):
            rows.append({"set": folder, **corpus_eval.evaluate(entry, diagnose, False)})
    for origin in ("own", "public"):
        f = corpus_eval.figures([r for r in rows if r["origin"] == origin])
        print(f"seen sets, {origin:6s} healthy called sick {f['healthy_called_sick']}/{f['healthy_readable']}"
              f" ({f['healthy_called_sick_pct']}%)  detected {f['sick_detected']}/{f['sick_readable']} ({f['sick_detected_pct']}%)"
              f"  accepted {f['accepted_first_cause']}/{f['sick_readable']} ({f['accepted_first_cause_pct']}%)")
    a.json.write_text(json.dumps(rows, indent=1))
    if a.against:
        before = {(r["set"], r["id"]): r for r in json.loads(a.against.read_text())}
        reading = ("verdict", "symptoms", "first_cause")
        changed = [(before[(r["set"], r["id"])], r) for r in rows
                   if (r["set"], r["id"]) in before and any(before[(r["set"], r["id"])][k] != r[k] for k in reading)]
        print(f"\n{len(changed)} log(s) read differently from {a.against}:")
        for old, new in changed:
            print(f"  {new['set']} {new['id']} ({new['origin']}, label {new['label']}, accepted {','.join(new['accepted_causes'][:3])}):"
                  f" {old['verdict']} {old['symptoms']} {old['first_cause']} -> {new['verdict']} {new['symptoms']} {new['first_cause']}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
