"""Train stage (``jazzcnn.train``): labels, grouped splits, the input pipeline, the presets, training,
the run folder, scoring, the report and predict (see each module's docstring)."""
