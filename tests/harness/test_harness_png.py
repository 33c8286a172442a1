"""The PNG encoder and the latency histogram: valid files that decoders open."""

from __future__ import annotations

import io

import numpy as np
import pytest
from mlenv_harness.results.histogram import BAR, HEIGHT, MARKS, WIDTH, duration, latency_histogram
from mlenv_harness.results.png import draw_text, encode_png
from png_testing import decode_png


def test_png_round_trip() -> None:
    rng = np.random.default_rng(1)
    pixels = rng.integers(0, 256, size=(7, 5, 3), dtype=np.uint8)
    data = encode_png(pixels, {"Title": "x"})
    decoded, text = decode_png(data)
    assert np.array_equal(decoded, pixels) and text == {"Title": "x"}
    image_module = pytest.importorskip("PIL.Image")
    with image_module.open(io.BytesIO(data)) as image:
        assert image.size == (5, 7) and image.mode == "RGB"
        assert np.array_equal(np.asarray(image), pixels)


def test_text_is_drawn() -> None:
    canvas = np.zeros((10, 40, 3), dtype=np.uint8)
    draw_text(canvas, "1.0ms", 0, 0, (255, 0, 0), scale=1)
    assert canvas[..., 0].any() and not canvas[..., 1].any()
    assert canvas[:, 20:, 0].sum() == 0  # 5 glyphs of 4 pixels


def test_histogram() -> None:
    rng = np.random.default_rng(2)
    values = rng.normal(100_000, 10_000, size=2000).astype(np.int64)
    weights = np.ones_like(values)
    marks = {"p50": 100_000, "p90": 113_000, "p99": 125_000}
    pixels, text = decode_png(latency_histogram(values, weights, marks, title="t"))
    assert pixels.shape == (HEIGHT, WIDTH, 3)
    assert (pixels == BAR).all(axis=2).sum() > 1000  # the bars
    for color in MARKS.values():
        assert (pixels == color).all(axis=2).any()  # each percentile's line and label
    assert "histogram of 2000 samples" in text["Description"]
    empty, _ = decode_png(latency_histogram(values[:0], weights[:0], marks, title="t"))
    assert not (empty == BAR).all(axis=2).any()
    assert [duration(v) for v in (850, 42_000, 3_400_000, 2e9)] == [
        "850ns",
        "42.0us",
        "3.40ms",
        "2.00s",
    ]
