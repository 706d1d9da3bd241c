"""Fakes for tests, benchmarks and the demo, kept out of the stages.

:mod:`~jazzcnn.testing.archive_server` (an archive.org-compatible HTTP server for 127.0.0.1, with
fault injection), :mod:`~jazzcnn.testing.archive_items` (small collections shaped like
``davidwnivenjazz``), :mod:`~jazzcnn.testing.tapes` (test tapes built from real recordings, with
their answer keys), :mod:`~jazzcnn.testing.niven_tapes` (cassette-like tapes shaped like Niven's,
with answer keys), :mod:`~jazzcnn.testing.removal_scores` (cuts scored against an answer key),
:mod:`~jazzcnn.testing.demo_tapes` (the demo's era-styled synthetic tapes) and
:mod:`~jazzcnn.testing.shards` (tiny labelled shard folders written by the real shard writer).
"""
