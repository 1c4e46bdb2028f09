"""Write corpus/heldout10/labels.yaml (the tenth held-out corpus) with the first corpus's labelling code.

    .venv/bin/python corpus/make_labels10.py            # heldout10/labels.yaml (+ heldout10/build/references.json)
    .venv/bin/python corpus/make_labels10.py --freeze   # then heldout10/FROZEN and heldout10/MANIFEST.sha256
    .venv/bin/python corpus/make_labels10.py --own-only # own fits only (dry run while the public half is incomplete)

Reuses ``corpus/make_labels.py`` (its own-fit and public-log entries, the references, the quirks)
pointed at ``corpus/heldout10/``, with ``harness/corpus_build10.py``'s specs, like
``corpus/make_labels9.py`` does for heldout9. Public logs (``logs/pub_*``) are labelled when
``corpus/heldout10/public_sources.yaml`` exists (same schema as heldout9's;
the public helpers' ``public_sources_*.yaml`` are merged into it first). Labels follow
LABELING.md (A for own fits, B for public logs) through ``corpus/rules.py``; nothing here
imports or runs plateau_doctor. Every entry's split is ``heldout10``.

The kinds of heldout10's new families, its writers' formats and the CSV header quirks
(``keras2_metric_names``, ``semicolon_separator``) are in ``corpus/make_labels.py``.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

_spec = importlib.util.spec_from_file_location("make_labels", Path(__file__).resolve().parent / "make_labels.py")
make_labels = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(make_labels)  # registers sys.modules["corpus_build"], which corpus_build10 patches


def main(argv=None) -> None:
    make_labels.later_corpus_main(10, "tenth", argv)


if __name__ == "__main__":
    main()
