"""Real logs broken the ways files break: every one is read (with what was skipped) or refused
with a :class:`UserInputError` that names the file, never another exception (which the CLI
turns into exit 1, where bad input is exit 2). The logs are the frozen corpus's own, cut,
patched and re-encoded by seeded mutations; the doctor reads each with the curves alone."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from plateau_doctor.data.logs import read_log
from plateau_doctor.engine.log_doctor import diagnose_curves
from plateau_doctor.errors import UserInputError

CORPUS = Path(__file__).resolve().parent.parent / "corpus"
LOGS = sorted(path for path in [*CORPUS.glob("logs/*"), *CORPUS.glob("heldout*/logs/*")] if path.is_file())
STRAY_LINES = (b"WARNING: something", b"Traceback (most recent call last):", b"loss: abc", b",,,,", b"nan,nan,nan",
               b"Epoch 3/2", b"epoch,loss,val_loss", b'{"loss": [1]}', b"\x00\x01", b"1/1 [===] - loss: 1e400")


def _mutated(data: bytes, rng: random.Random) -> bytes:
    """One way a file goes wrong: cut anywhere, a stray line, a repeated header, lost lines, odd
    values where numbers were, flipped bytes, other line ends, separators or encodings."""
    lines = data.split(b"\n")
    kind = rng.randrange(13)
    if kind == 0:
        return data[: rng.randrange(1, max(2, len(data)))]
    if kind == 1:
        lines.insert(rng.randrange(len(lines)), rng.choice(STRAY_LINES))
        return b"\n".join(lines)
    if kind == 2:
        return b"\n".join(lines[:1] + lines)
    if kind == 3:
        every = rng.randrange(1, max(2, len(lines)))
        return b"\n".join(line for index, line in enumerate(lines) if index % every)
    if kind == 4:
        odd = rng.choice([b"nan", b"inf", b"-inf", b"", b"None", b"null"])
        return data.replace(b"0.", odd, rng.randrange(1, 6))
    if kind == 5:
        flipped = bytearray(data)
        for _ in range(rng.randrange(1, 10)):
            flipped[rng.randrange(len(flipped))] = rng.randrange(256)
        return bytes(flipped)
    if kind == 6:
        return data.replace(b"\n", rng.choice([b"\r\n", b"\r", b"\r\r\n"]))
    if kind == 7:
        return data.replace(b",", b",,", rng.randrange(1, 4))
    if kind == 8:
        return data.replace(b"0.", b"-0.", rng.randrange(1, 50))
    if kind == 9:
        return data.replace(b"0.", b"9e300", rng.randrange(1, 5))
    if kind == 10:
        return data.replace(b"val_loss", b"loss", 1)
    if kind == 11:
        return rng.choice([b"\xef\xbb\xbf" + data, data.replace(b",", b"\t")])
    return b"\n".join(lines[:2])


@pytest.mark.parametrize("seed", range(6))
def test_a_broken_log_is_read_or_refused_naming_the_file(tmp_path, seed):
    rng = random.Random(seed)
    read = refused = 0
    for case in range(60):
        source = rng.choice(LOGS)
        data = source.read_bytes()
        for _ in range(rng.randrange(1, 3)):
            data = _mutated(data, rng)
        path = tmp_path / f"case{case}{source.suffix}"
        path.write_bytes(data)
        try:
            log = read_log(path)
        except UserInputError as error:
            assert path.name in str(error), (source.name, str(error))
            refused += 1
            continue
        found = diagnose_curves(log.history, fit=log.fit)  # any exception here fails the test with the case kept
        assert found.status in ("healthy", "sick") and found.symptoms, source.name
        read += 1
    assert read and refused  # both paths were taken: the mutations do break some files and spare others
