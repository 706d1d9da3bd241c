"""What the network and the inputs look like in two dimensions: PCA of penultimate-layer activations
and of the input log-mel statistics, coloured by era and by recording year.

The FMA-small study in the seeds (``../shared/seeds/002_*.txt``) plotted its inputs' principal
components to see which genres overlap before any model is trained; plotting the network's last
hidden layer beside them shows what training added. PCA is scikit-learn's.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

#: Most clips drawn in one embedding plot (a seeded sample when there are more).
MAX_POINTS = 3000


def embedding_model(model):
    """A model from the same input to the activations feeding the output layer.

    Works for the presets (a functional model whose last layer is the softmax ``Dense``) and for
    a model wrapped behind the band-limit control (its last layer is the inner model).

    Parameters
    ----------
    model : keras.Model

    Returns
    -------
    keras.Model
        ``(batch, n_samples, 1)`` audio -> ``(batch, d)`` activations.
    """
    import keras

    last = model.layers[-1]
    if isinstance(last, keras.Model):  # model = BandLimit -> inner model
        inner = embedding_model(last)
        inputs = keras.Input(shape=model.input_shape[1:], dtype="float32")
        x = inputs
        for layer in model.layers[1:-1]:
            x = layer(x)
        return keras.Model(inputs, inner(x))
    return keras.Model(model.inputs, last.input)


def pca_2d(x: np.ndarray, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Standardised features projected on their first two principal components.

    Returns
    -------
    coords : np.ndarray
        ``(n, 2)``.
    explained : np.ndarray
        ``(2,)`` share of variance of each component.
    """
    from sklearn.decomposition import PCA
    from sklearn.preprocessing import StandardScaler

    z = StandardScaler().fit_transform(np.asarray(x, np.float64))
    pca = PCA(n_components=2, random_state=seed).fit(z)
    return pca.transform(z), pca.explained_variance_ratio_


def sample(n: int, limit: int = MAX_POINTS, seed: int = 0) -> np.ndarray:
    """Indices of at most ``limit`` of ``n`` points (all of them when there are fewer), sorted."""
    if n <= limit:
        return np.arange(n)
    return np.sort(np.random.default_rng(seed).choice(n, size=limit, replace=False))


def plot_embeddings(panels: list[tuple[str, np.ndarray]], y: list[np.ndarray], years: list[np.ndarray],
                    eras: list[str], path: Path) -> None:
    """One row per panel: its PCA coloured by era (left) and by recording year (right).

    Parameters
    ----------
    panels : list of (str, np.ndarray)
        Title and features ``(n_i, d)`` of each panel (e.g. penultimate activations, log-mel statistics).
    y, years : list of np.ndarray
        Per panel: era index and recording year of each point.
    eras : list of str
    path : Path
        PNG written.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(len(panels), 2, figsize=(11, 4.2 * len(panels)), squeeze=False)
    for row, ((title, feats), yy, yr) in enumerate(zip(panels, y, years)):
        coords, var = pca_2d(feats)
        ax = axes[row, 0]
        for k, era in enumerate(eras):
            m = yy == k
            ax.scatter(coords[m, 0], coords[m, 1], s=8, alpha=0.7, label=era)
        ax.set_title(f"{title}: by era")
        ax.legend(fontsize=7, markerscale=2)
        ax2 = axes[row, 1]
        sc = ax2.scatter(coords[:, 0], coords[:, 1], c=yr, cmap="viridis", s=8, alpha=0.8)
        ax2.set_title(f"{title}: by recording year")
        fig.colorbar(sc, ax=ax2, label="year")
        for a in (ax, ax2):
            a.set_xlabel(f"PC 1 ({var[0]:.0%} of variance)")
            a.set_ylabel(f"PC 2 ({var[1]:.0%})")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
