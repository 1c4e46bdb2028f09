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

import argparse
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

PUBLIC_SOURCES = H3 / "public_sources.yaml"


def entries() -> list[dict]:
    return make_labels.heldout_entries(H3, "harness/corpus_build3.py", "heldout3")


def unlisted(es: list[dict]) -> list[str]:
    """Files in heldout3/logs that no entry names (e.g. a public log whose source is not in public_sources.yaml yet)."""
    named = {Path(e["file"]).name for e in es}
    return sorted(p.name for p in (H3 / "logs").iterdir() if p.name not in named)


def freeze(text_path: Path) -> str:
    assert text_path == H3 / "labels.yaml"
    return make_labels.write_freeze(H3, "No log of corpus/heldout3 was given to plateau-doctor before this file was written.")


def main(argv=None) -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--freeze", action="store_true")
    a = ap.parse_args(argv)
    header = ("# plateau-doctor third held-out corpus (corpus/heldout3/): one entry per log in corpus/heldout3/logs/.\n"
              "# Labels from how each own fit was built (LABELING.md A) or from the numeric rules (LABELING.md B, corpus/rules.py);\n"
              "# never from plateau-doctor's output. Every entry is split heldout3 (no tune half).\n")
    out = make_labels.write_labels(H3, entries(), header)
    path = H3 / "labels.yaml"
    if not PUBLIC_SOURCES.exists():
        print(f"note: {PUBLIC_SOURCES.relative_to(ROOT)} does not exist: public logs not labelled")
    left = unlisted(out)
    if left:
        print(f"warning: {len(left)} file(s) in logs/ have no entry: {', '.join(left)}")
    if a.freeze:
        if left:
            sys.exit("not frozen: every file in logs/ needs an entry first")
        print("frozen", freeze(path))


if __name__ == "__main__":
    main()
