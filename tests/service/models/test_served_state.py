"""service.models.served_state: the record of the served versions, read back as written, refused
when damaged, replaced atomically."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from service.models.served_state import (
    Candidate,
    Served,
    StateError,
    parse_state,
    read_state,
    render_state,
    write_state,
)

STATE = {"mnist-cnn": Served(2, Candidate(3, "canary", 12.5)), "mnist-mlp": Served(None),
         "tiny": Served(1, Candidate(4, "shadow"))}


def test_a_written_state_reads_back_the_same(tmp_path: Path) -> None:
    path = tmp_path / "serving.json"
    assert read_state(path) is None
    write_state(path, STATE)
    assert read_state(path) == STATE
    assert os.listdir(tmp_path) == ["serving.json"]  # no temporary file left behind


def test_a_failed_write_leaves_the_old_record_and_no_litter(tmp_path: Path, monkeypatch: pytest.MonkeyPatch
                                                            ) -> None:
    path = tmp_path / "serving.json"
    write_state(path, STATE)

    def broken_replace(src: str, dst: str) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", broken_replace)
    with pytest.raises(OSError):
        write_state(path, {"mnist-cnn": Served(1)})
    assert read_state(path) == STATE and os.listdir(tmp_path) == ["serving.json"]


@pytest.mark.parametrize("text", [
    "not json", "[]", '{"models": []}', '{"models": {"m": 3}}', '{"models": {"m": {"version": 0}}}',
    '{"models": {"m": {"version": "2"}}}', '{"models": {"m": {"version": true}}}',
    '{"models": {"m": {"version": 2, "candidate": {"version": 3, "rollout": "blue"}}}}',
    '{"models": {"m": {"version": 2, "candidate": {"version": 3, "rollout": "canary", "percent": 120}}}}',
])
def test_a_damaged_record_is_refused_with_what_is_wrong(text: str) -> None:
    with pytest.raises(StateError):
        parse_state(text)


def test_the_rendered_record_is_json_a_person_can_read() -> None:
    text = render_state(STATE)
    assert '"rollout": "canary"' in text and '"percent": 12.5' in text and "updated_at" in text
    assert parse_state(text) == STATE
