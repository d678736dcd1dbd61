"""The bench's sets of material looked at once (bench/timing_sets/*.json) load as parts of
their own, and a malformed set says what is wrong."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench"


@pytest.fixture(scope="module")
def material() -> Iterator[ModuleType]:
    sys.path.insert(0, str(BENCH))
    try:
        import timing_material

        yield timing_material
    finally:
        sys.path.remove(str(BENCH))


@pytest.mark.parametrize("path", sorted((BENCH / "timing_sets").glob("*.json")), ids=str)
def test_each_set_loads_as_a_part_of_its_own(material: ModuleType, path: Path) -> None:
    name = material.load_part(path)
    assert name == path.stem
    voices = material.VOICES[name]
    assert voices and all(v.engine in ("piper", "espeak") for v in voices)
    assert len(material.BABBLE_VOICES[name]) >= 5
    assert len(material.ANSWERS[name]) >= 10
    # Nothing in a set looked at once is in the bench's own parts.
    used = {v.voice for part in ("tuning", "heldout") for v in material.VOICES[part]}
    used |= {v.voice for part in ("tuning", "heldout") for v in material.BABBLE_VOICES[part]}
    assert not {v.voice for v in voices if v.engine == "espeak"} & used
    texts = set(material.ANSWERS["tuning"]) | set(material.ANSWERS["heldout"])
    assert not set(material.ANSWERS[name]) & texts


def test_a_malformed_set_says_what_is_wrong(material: ModuleType, tmp_path: Path) -> None:
    path = tmp_path / "broken.json"
    path.write_text(json.dumps({"voices": [{"name": "x", "engine": "espeak"}], "answers": ["Hi."]}))
    with pytest.raises(SystemExit, match="broken.json: not a set of voices, answers and babble"):
        material.load_part(path)
