"""Preprocess stage: decode to 16 kHz mono, remove Niven's spoken commentary, write shards.

Modules: :mod:`preprocess.audio` (streaming decode and resampling), :mod:`preprocess.vad`
(silero-vad on onnxruntime, speech spans), :mod:`preprocess.pipeline` (``clean_audio`` for one
file, ``run_preprocess`` for the stage), :mod:`preprocess.shards` (the shard contract: writer and
the readers ``load_index``, ``read_segment``, ``open_shard`` used by training),
:mod:`preprocess.synth` (test tapes built from real recordings, for tests and benchmarks).
"""
