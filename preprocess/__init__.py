"""Preprocess stage (``jazzcnn.preprocess``): 16 kHz mono, Niven's commentary removed, written to shards.

Modules: :mod:`~jazzcnn.preprocess.audio` (streaming decode and resampling),
:mod:`~jazzcnn.preprocess.vad` (silero-vad on onnxruntime), :mod:`~jazzcnn.preprocess.cleaning`
(the per-file cleaner, shared with ``predict``), :mod:`~jazzcnn.preprocess.shards` (the shard
folder: its one writer and one reader), :mod:`~jazzcnn.preprocess.pipeline` (the stage) and
:mod:`~jazzcnn.preprocess.config` (its settings).
"""
