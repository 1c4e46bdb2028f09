"""Write corpus/heldout6/labels.yaml (the sixth held-out corpus) with the first corpus's labelling code.

    .venv/bin/python corpus/make_labels6.py            # heldout6/labels.yaml (+ heldout6/build/references.json)
    .venv/bin/python corpus/make_labels6.py --freeze   # then heldout6/FROZEN and heldout6/MANIFEST.sha256
    .venv/bin/python corpus/make_labels6.py --own-only # own fits only (dry run while the public half is incomplete)

Reuses ``corpus/make_labels.py`` (its own-fit and public-log entries, the references, the quirks)
pointed at ``corpus/heldout6/``, with ``harness/corpus_build6.py``'s specs, like
``corpus/make_labels5.py`` does for heldout5. Public logs (``logs/pub_*``) are labelled when
``corpus/heldout6/public_sources.yaml`` exists (same schema as heldout5's). Labels follow
LABELING.md (A for own fits, B for public logs) through ``corpus/rules.py``; nothing here
imports or runs plateau_doctor. Every entry's split is ``heldout6``.

The kinds of heldout6's new families, its writers' formats and the CSV header quirks
(``keras2_metric_names``, ``semicolon_separator``) are in ``corpus/make_labels.py``.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

_spec = importlib.util.spec_from_file_location("make_labels", Path(__file__).resolve().parent / "make_labels.py")
make_labels = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(make_labels)  # registers sys.modules["corpus_build"], which corpus_build6 patches


def main(argv=None) -> None:
    make_labels.later_corpus_main(6, "sixth", argv)


if __name__ == "__main__":
    main()
