"""Write corpus/heldout3/labels.yaml (the third held-out corpus) with the first corpus's labelling code.

    .venv/bin/python corpus/make_labels3.py            # heldout3/labels.yaml (+ heldout3/build/references.json)
    .venv/bin/python corpus/make_labels3.py --freeze   # then heldout3/FROZEN and heldout3/MANIFEST.sha256

Reuses ``corpus/make_labels.py`` (its own-fit and public-log entries, the references, the quirks)
pointed at ``corpus/heldout3/``, with ``harness/corpus_build3.py``'s specs, like
``corpus/make_labels2.py`` does for heldout2. Public logs (``logs/pub_*``) are labelled when
``corpus/heldout3/public_sources.yaml`` exists (same schema as heldout2's). Labels follow
LABELING.md (A for own fits, B for public logs) through ``corpus/rules.py``; nothing here
imports or runs plateau_doctor. Every entry's split is ``heldout3``.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path


ROOT = Path(__file__).resolve().parents[1]
H3 = ROOT / "corpus" / "heldout3"
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "harness"))

_spec = importlib.util.spec_from_file_location("make_labels", ROOT / "corpus" / "make_labels.py")
make_labels = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(make_labels)  # registers sys.modules["corpus_build"]
import corpus_build3  # noqa: E402  (patches that same corpus_build module: heldout3 specs, paths, families)

make_labels.CORPUS = H3
make_labels.corpus_build = corpus_build3.cb


def entries(own_only: bool = False) -> list[dict]:
    if own_only:  # a dry run of the own half while the public half is still being collected
        make_labels.public_entries = lambda: []
    return make_labels.heldout_entries(H3, "harness/corpus_build3.py", "heldout3")


def main(argv=None) -> None:
    make_labels.heldout_main(H3, entries, "third", argv)


if __name__ == "__main__":
    main()
