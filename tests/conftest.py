"""Shared test fixtures: the real recordings in ../shared/audio and small generated signals."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

REPO = Path(__file__).resolve().parents[1]
#: Real speech and music recordings beside the checkout (see ../shared/audio/README.md).
SHARED_AUDIO = REPO.parent / "shared" / "audio"


@pytest.fixture(scope="session")
def shared_audio() -> Path:
    """Folder with ``speech/`` and ``music/`` real recordings; the tests need it."""
    if not (SHARED_AUDIO / "speech").is_dir():
        pytest.fail(f"real test audio not found at {SHARED_AUDIO} (CI puts shared/ beside the checkout)")
    return SHARED_AUDIO
