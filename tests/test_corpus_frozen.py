"""The real-log corpora are frozen: every log and labels.yaml as their MANIFEST.sha256 recorded,
labels.yaml's digest as FROZEN states it, no log added or removed since. A figure measured on a
corpus is only comparable with another on the same bytes (corpus/LABELING.md)."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
import yaml

CORPUS = Path(__file__).resolve().parent.parent / "corpus"
FOLDERS = [CORPUS, *sorted(CORPUS.glob("heldout[0-9]*"), key=lambda folder: int(folder.name[len("heldout"):]))]


def _manifest(folder: Path) -> dict[str, str]:
    lines = (folder / "MANIFEST.sha256").read_text().splitlines()
    return {name: digest for digest, name in (line.split("  ", 1) for line in lines if line.strip())}


@pytest.mark.parametrize("folder", FOLDERS, ids=lambda f: f.name)
def test_a_frozen_corpus_holds_the_bytes_its_manifest_recorded(folder):
    recorded = _manifest(folder)
    present = {f"logs/{p.name}" for p in (folder / "logs").iterdir()} | {"labels.yaml"}
    assert set(recorded) == present, "a log was added or removed after the freeze"
    changed = [name for name, digest in recorded.items()
               if hashlib.sha256((folder / name).read_bytes()).hexdigest() != digest]
    assert not changed, f"changed after the freeze: {changed}"
    frozen = dict(line.split(": ", 1) for line in (folder / "FROZEN").read_text().splitlines() if ": " in line)
    assert frozen["labels.yaml sha256"] == recorded["labels.yaml"]


@pytest.mark.parametrize("folder", FOLDERS, ids=lambda f: f.name)
def test_every_log_has_one_label_and_every_public_log_its_source(folder):
    loaded = yaml.safe_load((folder / "labels.yaml").read_text())
    entries = loaded["logs"] if isinstance(loaded, dict) else loaded
    ids = [entry["id"] for entry in entries]
    assert len(ids) == len(set(ids))
    assert set(ids) == {p.name.split(".")[0] for p in (folder / "logs").iterdir()}
    assert {entry["label"] for entry in entries} <= {"sick", "healthy", "unclear"}
    sources = {entry["id"] for entry in yaml.safe_load((folder / "public_sources.yaml").read_text())}
    assert {entry["id"] for entry in entries if entry["origin"] == "public"} <= sources
