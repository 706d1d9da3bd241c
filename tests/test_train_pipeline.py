"""The shard reader and tf.data input pipeline against plain numpy slicing of the same shards."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from jazzcnn.train.data import (PCM_SCALE, ShardError, ShardReader, audio_clips, class_weights, eval_dataset, grid_clips,
                        load_shard_index, random_clip_batches, segments_for, train_dataset)
from jazzcnn.testing.shards import write_synthetic


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    d = write_synthetic(tmp_path_factory.mktemp("pipe"), tapes_per_era=3, segments_per_tape=2, segment_seconds=2.5,
                        shard_samples=16000 * 12)
    index = load_shard_index(d["shard_dir"])
    names = sorted(index["shard"].unique())
    labels = {t: i for i, t in enumerate(sorted(index["identifier"].unique()))}
    labels = {t: (0 if t.startswith("early") else 1 if t.startswith("swing") else 2) for t in labels}
    return d, index, ShardReader(d["shard_dir"], names), segments_for(index, names, labels)


def test_index_spans_several_shards(data):
    d, index, reader, seg = data
    assert len(reader.names) > 1 and len(seg) == len(index) == 18


def test_eval_grid_matches_numpy_slicing(data):
    d, index, reader, seg = data
    clip, hop = 16000, 12000
    grid = grid_clips(seg, clip, hop)
    # 2.5 s segments, 1 s clips, 0.75 s hop -> starts 0, 0.75, 1.5 s: 3 clips per segment
    assert len(grid["start"]) == 3 * len(seg)
    ds = eval_dataset(reader, grid, clip, batch_size=7)
    xs, ys = zip(*[(x.numpy(), y.numpy()) for x, y in ds])
    x, y = np.concatenate(xs), np.concatenate(ys)
    assert x.shape == (len(grid["start"]), clip, 1) and x.dtype == np.float32
    np.testing.assert_array_equal(y, grid["label"])
    for i in (0, 5, len(x) - 1):
        row = index.iloc[grid["seg"][i]]
        mm = np.memmap(d["shard_dir"] / row["shard"], dtype="<i2", mode="r")
        o = int(row["offset"]) + int(grid["within"][i])
        np.testing.assert_array_equal(x[i, :, 0], mm[o:o + clip].astype(np.float32) * PCM_SCALE)


def test_short_segment_is_zero_padded(data):
    d, index, reader, seg = data
    clip = 16000 * 3  # longer than the 2.5 s segments
    grid = grid_clips(seg, clip, clip)
    assert len(grid["start"]) == len(seg) and (grid["valid"] == 40000).all()
    x = next(iter(eval_dataset(reader, grid, clip, batch_size=4)))[0].numpy()
    assert np.all(x[:, 40000:, 0] == 0) and np.any(x[:, :40000, 0] != 0)


def test_random_clips_stay_inside_segments_and_are_seeded(data):
    d, index, reader, seg = data
    clip = 16000
    gen = random_clip_batches(seg, clip, 64, 3, seed=1)
    a = [next(gen) for _ in range(5)]
    b = [next(random_clip_batches(seg, clip, 64, 3, seed=1)) for _ in range(1)]
    np.testing.assert_array_equal(a[0][1], b[0][1])
    ends = {(s, o + n) for s, o, n in zip(seg.shard, seg.offset, seg.length)}
    for shard, start, valid, label, w in a:
        for s, o in zip(shard, start):
            assert any(s == es and seg_o <= o and o + clip <= e
                       for es, e in ends for seg_o in [e - 40000])
    starts = np.concatenate([x[1] for x in a])
    assert len(np.unique(starts)) > 0.9 * len(starts)  # random offsets, not a grid


def test_class_weights_and_balanced_sampling(data):
    d, index, reader, seg = data
    w = class_weights(np.array([0, 0, 0, 1]), 3)
    np.testing.assert_allclose(w, [4 / 6, 2.0, 0.0])
    # make class 0 three times longer: sampling balances it, weights mode weights it
    seg2 = type(seg)(**{k: getattr(seg, k) for k in seg.__dataclass_fields__})
    seg2.length = np.where(seg.label == 0, seg.length, seg.length // 3)
    gen = random_clip_batches(seg2, 8000, 3000, 3, seed=0, balance="sampling")
    counts = np.bincount(next(gen)[3], minlength=3) / 3000
    np.testing.assert_allclose(counts, 1 / 3, atol=0.04)
    gen = random_clip_batches(seg2, 8000, 3000, 3, seed=0, balance="weights", weights=np.array([0.5, 1, 1]))
    _, _, _, lab, wt = next(gen)
    assert np.bincount(lab, minlength=3)[0] > 1500 and set(np.round(wt[lab == 0], 3)) == {0.5}


def test_train_dataset_batches(data):
    d, index, reader, seg = data
    ds = train_dataset(reader, seg, 16000, 8, 3, seed=0)
    x, y, w = next(iter(ds))
    assert x.shape == (8, 16000, 1) and y.shape == (8,) and w.shape == (8,)
    assert float(np.abs(x.numpy()).max()) <= 1.0


def test_audio_clips():
    a = (np.arange(35000) % 100).astype(np.int16)
    x, starts = audio_clips(a, 16000, 16000)
    assert x.shape == (2, 16000, 1) and list(starts) == [0, 16000]
    x, starts = audio_clips(a[:1000], 16000, 16000)
    assert x.shape == (1, 16000, 1) and np.all(x[0, 1000:] == 0)


def test_bad_shards(tmp_path):
    d = write_synthetic(tmp_path / "c", tapes_per_era=1, segments_per_tape=1, segment_seconds=1.0)
    good = load_shard_index(d["shard_dir"])
    other = write_synthetic(tmp_path / "o", tapes_per_era=1, segments_per_tape=1, segment_seconds=1.0, sample_rate=22050)
    with pytest.raises(ShardError, match="sample rate 22050 Hz, but 16000 Hz expected"):
        load_shard_index(other["shard_dir"])
    # The index comes from the commit records: a deleted or edited index.csv changes nothing.
    (d["shard_dir"] / "index.csv").unlink()
    (d["shard_dir"] / "meta.json").write_text(json.dumps({"sample_rate": 22050}))
    pd.testing.assert_frame_equal(load_shard_index(d["shard_dir"]), good)
    shard = sorted(d["shard_dir"].glob("*.pcm"))[0]
    shard.write_bytes(shard.read_bytes()[:1000])
    with pytest.raises(ShardError, match="1000 bytes, its commit record says .*rerun `make preprocess`"):
        load_shard_index(d["shard_dir"])
    shard.unlink()
    with pytest.raises(ShardError, match="shard-00000.pcm: missing"):
        load_shard_index(d["shard_dir"])
    for p in d["shard_dir"].iterdir():
        p.unlink()
    with pytest.raises(ShardError, match="make preprocess"):
        load_shard_index(d["shard_dir"])
