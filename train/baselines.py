"""The references a CNN must beat: the majority class, and a linear model on log-mel statistics.

A logistic regression on per-clip log-mel mean and standard deviation per band is the usual linear
reference in music classification (the "bag of frames" summary; e.g. Aucouturier & Pachet 2004,
and the feature baselines of FMA, Defferrard et al. 2017): it sees the spectrum's average shape
and spread, not rhythm or note sequences. If a CNN does not beat it, the CNN adds nothing.

Features use the model preset's own mel settings (window, hop, bands, magnitude in dB), computed
with librosa; the classifier is scikit-learn's :class:`~sklearn.linear_model.LogisticRegression`
on standardised features with balanced class weights (as the CNN's default ``BALANCE=weights``),
its regularisation chosen on the validation part of the training folds only.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

#: Inverse regularisation strengths tried on the validation part (log-spaced).
C_GRID = (0.01, 0.1, 1.0, 10.0)


@dataclass(frozen=True)
class MelSettings:
    """The mel front end the features are computed with (the model preset's).

    Attributes
    ----------
    sample_rate : int
        [Hz]
    n_fft : int
        STFT window [samples].
    hop_length : int
        [samples]
    n_mels : int
        Mel bands (Slaney scale and normalisation, as Kapre and librosa's defaults).
    power : float
        1 for magnitude, 2 for power; shown in dB either way.
    """

    sample_rate: int = 16000
    n_fft: int = 512
    hop_length: int = 256
    n_mels: int = 64
    power: float = 1.0


def mel_settings_of(preset, sample_rate: int) -> MelSettings:
    """The :class:`MelSettings` of a model preset (its STFT window, hop, mel bands and power)."""
    return MelSettings(sample_rate=int(sample_rate), n_fft=int(getattr(preset, "n_fft", 512)),
                       hop_length=int(getattr(preset, "hop_length", 256)), n_mels=int(getattr(preset, "n_mels", 64)),
                       power=float(getattr(preset, "power", 1.0)))


def logmel_stats(clips: np.ndarray, mel: MelSettings, *, chunk: int = 256) -> np.ndarray:
    """Mean and standard deviation over time of each mel band, in dB, per clip.

    Parameters
    ----------
    clips : np.ndarray
        float32, shape ``(n_clips, n_samples)``, PCM in [-1, 1) at ``mel.sample_rate``.
    mel : MelSettings
    chunk : int
        Clips computed at once (memory).

    Returns
    -------
    np.ndarray
        float32, shape ``(n_clips, 2 * mel.n_mels)``: the means, then the standard deviations [dB].
    """
    import librosa

    out = np.empty((len(clips), 2 * mel.n_mels), np.float32)
    for s in range(0, len(clips), chunk):
        x = np.asarray(clips[s:s + chunk], np.float32)
        spec = librosa.feature.melspectrogram(y=x, sr=mel.sample_rate, n_fft=mel.n_fft, hop_length=mel.hop_length,
                                              n_mels=mel.n_mels, power=mel.power, htk=False, norm="slaney")
        db = (10.0 if mel.power == 2 else 20.0) * np.log10(np.maximum(spec, 1e-5))
        out[s:s + len(x), :mel.n_mels] = db.mean(axis=-1)
        out[s:s + len(x), mel.n_mels:] = db.std(axis=-1)
    return out


@dataclass
class LinearBaseline:
    """Standardised features + multinomial logistic regression, ``C`` chosen on validation data.

    Attributes
    ----------
    n_classes : int
    C : float
        The chosen inverse regularisation strength (after :meth:`fit`).
    val_log_loss : dict
        ``C -> log-loss`` on the validation part, for the record.
    """

    n_classes: int
    seed: int = 0
    C: float | None = None
    val_log_loss: dict = field(default_factory=dict)
    _model: object = None

    def _make(self, C: float):
        from sklearn.linear_model import LogisticRegression
        from sklearn.pipeline import make_pipeline
        from sklearn.preprocessing import StandardScaler

        return make_pipeline(StandardScaler(), LogisticRegression(C=C, class_weight="balanced", max_iter=2000,
                                                                  random_state=self.seed))

    def fit(self, x_train: np.ndarray, y_train: np.ndarray, x_val: np.ndarray | None = None,
            y_val: np.ndarray | None = None) -> LinearBaseline:
        """Choose ``C`` by validation log-loss (when a validation part is given), then fit on all of it.

        Parameters
        ----------
        x_train, x_val : np.ndarray
            Features ``(n, d)`` of the training and validation clips.
        y_train, y_val : np.ndarray
            int class per clip.
        """
        if x_val is not None and len(x_val) and len(np.unique(y_train)) > 1:
            for C in C_GRID:
                model = self._make(C).fit(x_train, y_train)
                p = self._full(model, model.predict_proba(x_val))
                # cross-entropy of the true classes (probabilities floored at 1e-15, as scikit-learn's log_loss)
                self.val_log_loss[C] = float(-np.mean(np.log(np.maximum(p[np.arange(len(y_val)), y_val], 1e-15))))
            self.C = min(self.val_log_loss, key=self.val_log_loss.get)
            x_train, y_train = np.concatenate([x_train, x_val]), np.concatenate([y_train, y_val])
        else:
            self.C = 1.0
        self._model = self._make(self.C).fit(x_train, y_train)
        return self

    def _full(self, model, p: np.ndarray) -> np.ndarray:
        """Probabilities over all ``n_classes`` (a class absent from training gets 0)."""
        out = np.zeros((len(p), self.n_classes))
        out[:, model[-1].classes_] = p
        return out

    def predict_proba(self, x: np.ndarray) -> np.ndarray:
        """Class probabilities ``(n, n_classes)``, rows summing to 1."""
        return self._full(self._model, self._model.predict_proba(x))


def majority_proba(y_train_lengths: dict[int, float], n_classes: int, n: int) -> np.ndarray:
    """Probabilities of the majority baseline: all mass on the class with the most training audio.

    Parameters
    ----------
    y_train_lengths : dict
        class -> amount of training data (samples of audio, or tapes).
    n_classes, n : int
        Classes, and rows to return.

    Returns
    -------
    np.ndarray
        ``(n, n_classes)`` one-hot rows.
    """
    k = max(y_train_lengths, key=y_train_lengths.get) if y_train_lengths else 0
    out = np.zeros((n, n_classes))
    out[:, k] = 1.0
    return out
