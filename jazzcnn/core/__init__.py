"""The ground floor: what every stage may import, and nothing that imports a stage.

:mod:`~jazzcnn.core.errors` (the one error family), :mod:`~jazzcnn.core.files` (atomic writes,
locks, digests, writable checks), :mod:`~jazzcnn.core.settings` (typed, validated stage settings
as command-line flags), :mod:`~jazzcnn.core.provenance` (git revision, hashes, versions),
:mod:`~jazzcnn.core.csvio` (checked reading of user-edited CSV files) and
:mod:`~jazzcnn.core.paths` (where a data folder keeps what).
"""
