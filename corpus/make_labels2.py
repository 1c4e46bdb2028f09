"""Write corpus/heldout2/labels.yaml (the second held-out corpus) with the first corpus's labelling code.

    .venv/bin/python corpus/make_labels2.py            # heldout2/labels.yaml (+ heldout2/build/references.json)
    .venv/bin/python corpus/make_labels2.py --freeze   # then heldout2/FROZEN and heldout2/MANIFEST.sha256

Reuses ``corpus/make_labels.py`` (its own-fit and public-log entries, the references, the quirks)
pointed at ``corpus/heldout2/``, with ``harness/corpus_build2.py``'s specs. Labels follow
LABELING.md (A for own fits, B for public logs) through ``corpus/rules.py``; nothing here imports
or runs plateau_doctor. Every entry's split is ``heldout2``.
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
from pathlib import Path


ROOT = Path(__file__).resolve().parents[1]
H2 = ROOT / "corpus" / "heldout2"
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "harness"))

_spec = importlib.util.spec_from_file_location("make_labels", ROOT / "corpus" / "make_labels.py")
make_labels = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(make_labels)  # registers sys.modules["corpus_build"]
import corpus_build2  # noqa: E402  (patches that same corpus_build module: heldout2 specs, paths, families)

make_labels.CORPUS = H2
make_labels.corpus_build = corpus_build2.cb



def entries() -> list[dict]:
    return make_labels.heldout_entries(H2, "harness/corpus_build2.py", "heldout2")


def freeze(text_path: Path) -> str:
    assert text_path == H2 / "labels.yaml"
    return make_labels.write_freeze(H2, "No log of corpus/heldout2 was given to plateau-doctor before this file was written.")


def main(argv=None) -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--freeze", action="store_true")
    a = ap.parse_args(argv)
    header = ("# plateau-doctor second held-out corpus (corpus/heldout2/): one entry per log in corpus/heldout2/logs/.\n"
              "# Labels from how each own fit was built (LABELING.md A) or from the numeric rules (LABELING.md B, corpus/rules.py);\n"
              "# never from plateau-doctor's output. Every entry is split heldout2 (no tune half).\n")
    make_labels.write_labels(H2, entries(), header)
    path = H2 / "labels.yaml"
    if a.freeze:
        print("frozen", freeze(path))


if __name__ == "__main__":
    main()
