"""Write corpus/heldout4/labels.yaml (the fourth held-out corpus) with the first corpus's labelling code.

    .venv/bin/python corpus/make_labels4.py            # heldout4/labels.yaml (+ heldout4/build/references.json)
    .venv/bin/python corpus/make_labels4.py --freeze   # then heldout4/FROZEN and heldout4/MANIFEST.sha256
    .venv/bin/python corpus/make_labels4.py --own-only # own fits only (dry run while the public half is incomplete)

Reuses ``corpus/make_labels.py`` (its own-fit and public-log entries, the references, the quirks)
pointed at ``corpus/heldout4/``, with ``harness/corpus_build4.py``'s specs, like
``corpus/make_labels3.py`` does for heldout3. Public logs (``logs/pub_*``) are labelled when
``corpus/heldout4/public_sources.yaml`` exists (same schema as heldout3's). Labels follow
LABELING.md (A for own fits, B for public logs) through ``corpus/rules.py``; nothing here
imports or runs plateau_doctor. Every entry's split is ``heldout4``.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path


ROOT = Path(__file__).resolve().parents[1]
H4 = ROOT / "corpus" / "heldout4"
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "harness"))

_spec = importlib.util.spec_from_file_location("make_labels", ROOT / "corpus" / "make_labels.py")
make_labels = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(make_labels)  # registers sys.modules["corpus_build"]
import corpus_build4  # noqa: E402  (patches that same corpus_build module: heldout4 specs, paths, families)

make_labels.CORPUS = H4
make_labels.corpus_build = corpus_build4.cb


def entries(own_only: bool = False) -> list[dict]:
    if own_only:  # a dry run of the own half while the public half is still being collected
        make_labels.public_entries = lambda: []
    return make_labels.heldout_entries(H4, "harness/corpus_build4.py", "heldout4")


def main(argv=None) -> None:
    make_labels.heldout_main(H4, entries, "fourth", argv)


if __name__ == "__main__":
    main()
