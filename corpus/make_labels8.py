"""Write corpus/heldout8/labels.yaml (the eighth held-out corpus) with the first corpus's labelling code.

    .venv/bin/python corpus/make_labels8.py            # heldout8/labels.yaml (+ heldout8/build/references.json)
    .venv/bin/python corpus/make_labels8.py --freeze   # then heldout8/FROZEN and heldout8/MANIFEST.sha256
    .venv/bin/python corpus/make_labels8.py --own-only # own fits only (dry run while the public half is incomplete)

Reuses ``corpus/make_labels.py`` (its own-fit and public-log entries, the references, the quirks)
pointed at ``corpus/heldout8/``, with ``harness/corpus_build8.py``'s specs, like
``corpus/make_labels7.py`` does for heldout7. Public logs (``logs/pub_*``) are labelled when
``corpus/heldout8/public_sources.yaml`` exists (same schema as heldout7's;
the public helpers' ``public_sources_*.yaml`` are merged into it first). Labels follow
LABELING.md (A for own fits, B for public logs) through ``corpus/rules.py``; nothing here
imports or runs plateau_doctor. Every entry's split is ``heldout8``.

The kinds of heldout8's new families, its writers' formats and the CSV header quirks
(``keras2_metric_names``, ``semicolon_separator``) are in ``corpus/make_labels.py``.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

_spec = importlib.util.spec_from_file_location("make_labels", Path(__file__).resolve().parent / "make_labels.py")
make_labels = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(make_labels)  # registers sys.modules["corpus_build"], which corpus_build8 patches


def main(argv=None) -> None:
    make_labels.later_corpus_main(8, "eighth", argv)


if __name__ == "__main__":
    main()
