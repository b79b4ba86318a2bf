"""The offline MiniLM embedder: the real all-MiniLM-L6-v2 from its wheel."""

from __future__ import annotations

import numpy as np

from pipeline.validate.text_embedding import TextEmbedder

TEXTS = ["a dog barks", "an engine roars", "people cheer and clap", "typing on a keyboard", "a siren wails"]


def test_it_keeps_only_the_most_recent_texts_and_still_returns_every_vector() -> None:
    """One call may bring more texts than the cache holds; every vector still comes back, in order."""
    bounded, unbounded = TextEmbedder(cache_size=3), TextEmbedder(cache_size=100)
    expected = unbounded.encode(TEXTS)
    got = bounded.encode(TEXTS)
    np.testing.assert_allclose(got, expected, atol=1e-6)
    assert list(bounded._cache) == TEXTS[-3:]
    bounded.encode([TEXTS[2], TEXTS[0]])  # a hit moves to the back; a miss pushes the oldest out
    assert list(bounded._cache) == [TEXTS[4], TEXTS[2], TEXTS[0]]
    np.testing.assert_allclose(bounded.encode(TEXTS[:1]), expected[:1], atol=1e-6)
    assert np.allclose(np.linalg.norm(got, axis=1), 1.0, atol=1e-5)
