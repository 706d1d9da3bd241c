"""jazzcnn: jazz-era classification on the David W. Niven Collection of Early Jazz Legends.

The three stages live in the top-level packages ``acquire``, ``preprocess`` and ``train``;
this package holds what they share: the command line, typed settings and provenance.
"""

__version__ = "0.1.0"
