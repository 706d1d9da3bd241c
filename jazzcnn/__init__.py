"""jazzcnn: jazz-era classification on the David W. Niven Collection of Early Jazz Legends.

One installed namespace, in floors that import only downwards:

* ground floor, :mod:`jazzcnn.core`: errors, atomic files and locks, settings, provenance, paths;
* the stages, :mod:`jazzcnn.acquire` -> :mod:`jazzcnn.preprocess` -> :mod:`jazzcnn.train` (each
  may import the ground floor and the stages before it);
* top floor: :mod:`jazzcnn.api` (the Python API: ``Collection`` and the stages as functions),
  :mod:`jazzcnn.commands` and :mod:`jazzcnn.cli` (the command line), :mod:`jazzcnn.demo`, and the
  fakes in :mod:`jazzcnn.testing`.

``jazzcnn.Collection`` is :class:`jazzcnn.api.Collection` (imported on first use, so importing
the ground floor stays light).
"""

__version__ = "0.1.0"


def __getattr__(name: str):
    if name in ("Collection", "Track"):
        from jazzcnn import api

        return getattr(api, name)
    raise AttributeError(f"module 'jazzcnn' has no attribute {name!r}")
