"""Train stage: era labels from the manifests, grouped splits, the Kapre CNN, held-out scores."""
