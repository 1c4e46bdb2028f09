"""Write corpus/heldout7/labels.yaml (the seventh held-out corpus) with the first corpus's labelling code.

    .venv/bin/python corpus/make_labels7.py            # heldout7/labels.yaml (+ heldout7/build/references.json)
    .venv/bin/python corpus/make_labels7.py --freeze   # then heldout7/FROZEN and heldout7/MANIFEST.sha256
    .venv/bin/python corpus/make_labels7.py --own-only # own fits only (dry run while the public half is incomplete)

Reuses ``corpus/make_labels.py`` (its own-fit and public-log entries, the references, the quirks)
pointed at ``corpus/heldout7/``, with ``harness/corpus_build7.py``'s specs, like
``corpus/make_labels6.py`` does for heldout6. Public logs (``logs/pub_*``) are labelled when
``corpus/heldout7/public_sources.yaml`` exists (same schema as heldout6's;
the public helpers' ``public_sources_*.yaml`` are merged into it first). Labels follow
LABELING.md (A for own fits, B for public logs) through ``corpus/rules.py``; nothing here
imports or runs plateau_doctor. Every entry's split is ``heldout7``.

The kinds of heldout7's new families, its writers' formats and the CSV header quirks
(``keras2_metric_names``, ``semicolon_separator``) are in ``corpus/make_labels.py``.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path


ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "harness"))

_spec = importlib.util.spec_from_file_location("make_labels", ROOT / "corpus" / "make_labels.py")
make_labels = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(make_labels)  # registers sys.modules["corpus_build"]
import corpus_build7  # noqa: E402  (patches that same corpus_build module: heldout7 specs, paths, families, writers)

H7 = corpus_build7.H7  # corpus/heldout7, or HELDOUT7_OUT when set (a dry run on a rebuild elsewhere)

make_labels.CORPUS = H7
make_labels.corpus_build = corpus_build7.cb


def entries(own_only: bool = False) -> list[dict]:
    if own_only:  # a dry run of the own half while the public half is still being collected
        make_labels.public_entries = lambda: []
    return make_labels.add_csv_header_quirks(H7, make_labels.heldout_entries(H7, "harness/corpus_build7.py", "heldout7"))


def main(argv=None) -> None:
    make_labels.heldout_main(H7, entries, "seventh", argv)


if __name__ == "__main__":
    main()
