"""Two-speaker diarization of a mono call: one embedding per VAD segment, two clusters.

Speaker embeddings are biometric data: they live only in memory, are never
logged or written anywhere, and are dropped as soon as the labels are known.
The embedding model is passed in as a function (CAM++ in production, anything
with the same shape in tests), so clustering and smoothing are testable alone.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

# Clips (16 kHz float32, all the same length within one call) → one row per clip.
EmbedFn = Callable[[Sequence[np.ndarray]], np.ndarray]

# Shorter segments give unreliable embeddings; they borrow a neighbour's label.
MIN_EMBED_MS = 600
# CAM++ is trained on ~1.5 s crops; funasr's own diarization uses the same window.
WINDOW_MS = 1500
# A long segment is sampled, not tiled: a few windows pin the voice down, and this
# caps the cost on 70-minute calls (~20 ms of CPU per window for CAM++'s conv head).
MAX_WINDOWS_PER_SEGMENT = 4
# Windows per embedding call: CAM++'s conv activations take ~4 MB per window.
EMBED_BATCH = 16


def segment_windows(clip: np.ndarray, sample_rate: int) -> list[np.ndarray]:
    """Equal-length views into ``clip`` to embed (the clip itself if it is short)."""
    win = WINDOW_MS * sample_rate // 1000
    if clip.size <= win:
        return [clip]
    # Just enough windows to cover the clip (capped), evenly spread over both ends.
    count = min(MAX_WINDOWS_PER_SEGMENT, math.ceil(clip.size / win))
    starts = np.linspace(0, clip.size - win, count).round().astype(int)
    return [clip[s : s + win] for s in starts]


def _unit_rows(matrix: np.ndarray) -> np.ndarray:
    """Rows scaled to unit length (zero rows stay zero)."""
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    out: np.ndarray = matrix / np.maximum(norms, 1e-12)
    return out


def segment_embeddings(
    clips: Sequence[np.ndarray], embed: EmbedFn, sample_rate: int = 16000
) -> np.ndarray:
    """One unit-length embedding per clip: the mean direction of its windows' embeddings.

    Windows are embedded in groups of equal length, so no zero padding (which
    would skew the model's statistics pooling) ever enters a batch.
    """
    if not clips:
        return np.zeros((0, 0))
    owners: list[int] = []
    windows: list[np.ndarray] = []
    for index, clip in enumerate(clips):
        for window in segment_windows(clip, sample_rate):
            owners.append(index)
            windows.append(window)
    by_length: dict[int, list[int]] = {}
    for w, window in enumerate(windows):
        by_length.setdefault(window.size, []).append(w)
    rows: list[np.ndarray | None] = [None] * len(windows)
    for members in by_length.values():
        for begin in range(0, len(members), EMBED_BATCH):
            chunk = members[begin : begin + EMBED_BATCH]
            vectors = np.asarray(embed([windows[w] for w in chunk]), dtype=np.float64)
            if vectors.shape[0] != len(chunk):
                raise ValueError(
                    f"embedding model returned {vectors.shape[0]} rows for {len(chunk)}"
                )
            for w, vector in zip(chunk, _unit_rows(vectors), strict=True):
                rows[w] = vector
    dim = next(r for r in rows if r is not None).shape[0]
    sums = np.zeros((len(clips), dim))
    for owner, row in zip(owners, rows, strict=True):
        assert row is not None
        sums[owner] += row
    del rows, windows
    return _unit_rows(sums)


def cluster_two(embeddings: np.ndarray, seed: int = 0) -> np.ndarray:
    """Label each row 0 or 1 by k-means on unit vectors (≈ cosine distance).

    Fewer than two distinct rows give one cluster (all 0). Deterministic for a seed.
    """
    n = embeddings.shape[0]
    if n == 0:
        return np.zeros(0, dtype=int)
    unit = _unit_rows(np.asarray(embeddings, dtype=np.float64))
    if n < 2 or np.unique(unit.round(9), axis=0).shape[0] < 2:
        return np.zeros(n, dtype=int)
    from sklearn.cluster import KMeans

    # Several restarts keep one odd segment from becoming a "speaker" of its own.
    labels = KMeans(n_clusters=2, n_init=10, random_state=seed).fit_predict(unit)
    return np.asarray(labels, dtype=int)


def fill_short_labels(spans: Sequence[tuple[int, int]], labels: Sequence[int | None]) -> list[int]:
    """Give every unlabelled span the label of the labelled span nearest in time.

    Distance is the silence between the spans (0 if they touch or overlap); ties
    go to the earlier neighbour. With no labelled span at all, everything is 0.
    """
    known = [i for i, label in enumerate(labels) if label is not None]
    if not known:
        return [0] * len(spans)
    out: list[int] = []
    for i, label in enumerate(labels):
        if label is not None:
            out.append(label)
            continue
        start, end = spans[i]

        def gap(j: int, start: int = start, end: int = end) -> tuple[int, int]:
            other_start, other_end = spans[j]
            return (max(0, other_start - end, start - other_end), other_start)

        nearest = labels[min(known, key=gap)]
        assert nearest is not None
        out.append(nearest)
    return out


def diarize(
    clips: Sequence[np.ndarray],
    spans: Sequence[tuple[int, int]],
    embed: EmbedFn,
    sample_rate: int = 16000,
) -> list[int]:
    """Speaker label (0 or 1) per segment; label 0 is whoever speaks first.

    Segments shorter than ``MIN_EMBED_MS`` are not embedded and take the label
    of their nearest neighbour in time. Embeddings are discarded before returning.
    """
    if len(clips) != len(spans):
        raise ValueError("one span per clip expected")
    reliable = [i for i, (a, b) in enumerate(spans) if b - a >= MIN_EMBED_MS]
    labels: list[int | None] = [None] * len(spans)
    if reliable:
        embeddings = segment_embeddings([clips[i] for i in reliable], embed, sample_rate)
        clustered = cluster_two(embeddings)
        # Biometric data: drop it as soon as the labels exist.
        del embeddings
        for i, label in zip(reliable, clustered, strict=True):
            labels[i] = int(label)
    filled = fill_short_labels(spans, labels)
    if not filled:
        return []
    first = filled[min(range(len(spans)), key=lambda i: spans[i])]
    return [label if first == 0 else 1 - label for label in filled]


class CampplusEmbedder:
    """EmbedFn over a loaded funasr CAM++ AutoModel (speaker verification model)."""

    def __init__(self, auto_model: Any) -> None:
        self.model = auto_model

    def __call__(self, clips: Sequence[np.ndarray]) -> np.ndarray:
        """Embed equal-length clips in one generate() call; returns (len(clips), dim)."""
        import torch

        results = self.model.generate(input=list(clips), batch_size=len(clips))
        # CAMPPlus.inference returns one result per batch holding a (batch, dim) tensor.
        tensors = [r["spk_embedding"] for r in results]
        with torch.no_grad():
            stacked = torch.cat([t.reshape(-1, t.shape[-1]) for t in tensors], dim=0)
            array: np.ndarray = stacked.detach().float().cpu().numpy()
        return array
