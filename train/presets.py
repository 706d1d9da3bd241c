"""The presets: the seed studies' networks as published, with the documented fixes only, and ours.

Every preset is a :class:`Preset` in :data:`PRESETS`: a clip length, a front end
(:mod:`jazzcnn.train.frontends`, a separable piece that turns the raw-audio input into a
``(bands, frames, 1)`` image), a *body* (the network from that image to the era probabilities)
and an optimiser. The body function's docstring is the preset's documentation: the seed file it
comes from and every setting with its source, marked

* **[printed]**: printed in the seed's write-up (``../shared/seeds/``);
* **[table]**: read off a layer table or graph the seed published (output shapes, parameter counts);
* **[repo]**: the seed's public repository, where the write-up is silent (named with the file):
  for seed 003 ``dagnybrand/music-genre-network-project`` on GitHub (the write-up is its README;
  ``model_architecture.py`` holds the first solution at commit 03bdc0b and the final one at
  9840637), for seed 004 ``ritchie46/music-classification`` (the write-up links its model graph
  ``cnn_16_32_32_d0_0.5_250.png``; notebooks ``modify_data.ipynb``, ``mlp.ipynb``,
  ``conv.ipynb`` at a04772d). Facts read there, no code taken;
* **[ours]**: our choice, with the reason.

``jazzcnn presets`` prints the table of presets built from the models themselves;
``jazzcnn presets --preset NAME`` adds the layer table and this documentation.

Fixes applied to every seed preset (the only changes to the published networks):

1. the mel filter bank is built for the shards' sample rate, passed explicitly (16 kHz), where
   seeds 000/001 passed ``sr=32`` (Hz);
2. eras do not overlap (``eras.csv``, checked when read; not a network setting);
3. the dB image is standardised *per clip* where seeds 000/001 standardised over the whole batch
   (Kapre 0.1's ``Normalization2D(int_axis=-1)`` is "per batch" by its documentation; ``0``
   would have been per sample): with batch statistics a clip's prediction depends on the other
   clips in its batch, which would make held-out scores depend on the batch size.

Differences we cannot remove with Kapre 0.4 (recorded, not fixed):

* seeds 000/001 trained their DFT kernels and mel filter bank (``trainable_kernel=True``,
  ``trainable_fb=True``: 296,064 of seed 001's 4,764,548 parameters). Kapre 0.4 computes the STFT
  with ``tf.signal.stft`` and applies a constant filter bank, so the front end has no weights;
  we offer no trainable substitute (a Keras-native front end is a later issue's work);
* Kapre 0.1's ``power_melgram=1.0`` took the square root of the mel-filtered *power* spectrum,
  ``sqrt(M |X|^2)``; Kapre 0.4 filters the magnitude, ``M |X|`` (librosa's
  ``melspectrogram(power=1)``, the reference our tests compare against);
* Keras' default weight initialisers stand in for PyTorch's in the GTZAN presets (seed 003).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

from jazzcnn.train.frontends import KapreMel

__all__ = ["Preset", "PRESETS", "SEED_FILES"]

#: Seed write-ups (``../shared/seeds/``) by number.
SEED_FILES = {
    "000": "000_6f02f77f43edaf6e.txt",
    "001": "001_d4a53e509879d3ab.txt",
    "002": "002_5bd7af987d8dee62.txt",
    "003": "003_b5cff7ee5b23cdf6.txt",
    "004": "004_e6b2c3bf5822cc77.txt",
}

#: Keras 2 initialised RMSprop's and Adam's epsilon with ``K.epsilon()`` (1e-7), as Keras 3 does.
_KERAS_EPSILON = 1e-7


@dataclass(frozen=True)
class Preset:
    """One network: what ``jazzcnn train`` needs to build and train it.

    Attributes
    ----------
    name : str
        Registry key (``--preset``).
    seed : str
        The seed write-up it reproduces (a file of ``../shared/seeds/``), or ``"ours"``.
    clip_seconds : float
        Default clip length [s].
    min_clip_samples : int
        Shortest clip the network can be built for [samples] (shorter clips leave a layer
        nothing to convolve or pool; the limit is in samples because the STFT hop is).
    front_end : KapreMel
        Raw audio to ``(bands, frames, 1)`` image.
    body : callable
        ``body(image, n_classes) -> probabilities``: builds the layers after the front end on a
        symbolic tensor; its docstring documents the preset.
    optimizer : callable
        ``optimizer(learning_rate) -> keras.optimizers.Optimizer`` (learning rate: the initial
        one where the optimiser decays it).
    learning_rate : float
        Default (initial) learning rate.
    optimizer_text : str
        The optimiser in words, for tables.
    hparams : dict
        Hyperparameters of the preset and their defaults (``--hparams NAME=VALUE`` overrides
        them; the body's docstring documents each). A preset with hyperparameters gets them as
        keyword arguments of ``body``, ``optimizer`` (with ``total_steps``, the planned training
        steps [batches], for schedules) and ``waveform``; ``label_smoothing`` among them sets the
        loss. Empty for the seed presets, whose settings are the published ones.
    tune : dict
        Candidate values chosen by validation (``--tune``): hyperparameter name (or
        ``learning_rate``) -> tuple of values; every combination is trained on the training part
        and the lowest validation loss wins (:mod:`jazzcnn.train.tuning`).
    waveform : callable or None
        ``waveform(audio, **hparams)``: layers applied to the raw audio before the front end
        (training-only augmentation such as random gain).
    """

    name: str
    seed: str
    clip_seconds: float
    min_clip_samples: int
    front_end: KapreMel
    body: Callable
    optimizer: Callable
    learning_rate: float
    optimizer_text: str
    hparams: dict = field(default_factory=dict)
    tune: dict = field(default_factory=dict)
    waveform: Callable | None = None

    @property
    def n_fft(self) -> int:
        """STFT window of the front end [samples]."""
        return self.front_end.n_fft

    @property
    def hop_length(self) -> int:
        """STFT hop of the front end [samples]."""
        return self.front_end.hop_length

    @property
    def n_mels(self) -> int:
        """Mel bands of the front end (before any MFCC)."""
        return self.front_end.n_mels

    @property
    def doc(self) -> str:
        """The preset's documentation (its body function's docstring)."""
        import inspect

        return inspect.getdoc(self.body) or ""


# ------------------------------------------------------------------------------------------------
# shared pieces


def _standardise(x, name: str):
    """Per-clip standardisation of the image: zero mean, unit variance over bands x frames.

    Parameter-free, and the same in training and inference (no moving statistics).
    """
    import keras

    return keras.layers.LayerNormalization(axis=(1, 2, 3), center=False, scale=False, name=name)(x)


def _era_output(x, n_classes: int):
    """Softmax over the eras; float32 under mixed precision for a stable loss."""
    import keras

    return keras.layers.Dense(n_classes, activation="softmax", dtype="float32", name="era")(x)


def _rmsprop_keras2_decay(decay: float):
    """RMSprop with Keras 2's ``decay``: ``lr / (1 + decay * iterations)``, an InverseTimeDecay.

    Keras 2's optimisers applied ``lr * 1 / (1 + decay * iterations)`` at every update; Keras 3
    expresses exactly that as ``InverseTimeDecay(lr, decay_steps=1, decay_rate=decay)``, which is
    saved with the model and survives a reload.
    """

    def make(learning_rate: float):
        import keras

        schedule = keras.optimizers.schedules.InverseTimeDecay(learning_rate, decay_steps=1, decay_rate=decay)
        return keras.optimizers.RMSprop(learning_rate=schedule, rho=0.9, epsilon=_KERAS_EPSILON)

    return make


def _adam(epsilon: float, decay: float = 0.0):
    def make(learning_rate: float):
        import keras

        lr = learning_rate
        if decay:
            lr = keras.optimizers.schedules.InverseTimeDecay(learning_rate, decay_steps=1, decay_rate=decay)
        return keras.optimizers.Adam(learning_rate=lr, beta_1=0.9, beta_2=0.999, epsilon=epsilon)

    return make


def _adagrad_torch_defaults(learning_rate: float):
    """Adagrad with PyTorch's defaults: no initial accumulator, epsilon 1e-10."""
    import keras

    return keras.optimizers.Adagrad(learning_rate=learning_rate, initial_accumulator_value=0.0, epsilon=1e-10)


def _rmsprop_plain(learning_rate: float):
    import keras

    return keras.optimizers.RMSprop(learning_rate=learning_rate)


# ------------------------------------------------------------------------------------------------
# seeds 000 and 001: jazzCNN


def _seed_cnn(x, n_classes: int, filters: tuple[int, ...], dense_units: tuple[int, ...]):
    """Seeds 000/001: blocks of conv 3x3 'same', ReLU, conv 3x3 'valid', ReLU, pool 2x2, dropout."""
    from keras import layers

    x = _standardise(x, "normalization2d")
    k = 0
    for block, f in enumerate(filters, 1):
        for padding in ("same", "valid"):
            k += 1
            x = layers.Conv2D(f, (3, 3), padding=padding, name=f"conv2d_{k}")(x)
            x = layers.Activation("relu", name=f"activation_{k}")(x)
        x = layers.MaxPooling2D((2, 2), name=f"max_pooling2d_{block}")(x)
        x = layers.Dropout(0.25, name=f"dropout_{block}")(x)
    x = layers.Flatten(name="flatten_1")(x)
    for i, units in enumerate(dense_units, 1):
        x = layers.Dense(units, activation="relu", name=f"dense_{i}")(x)
        x = layers.Dropout(0.2, name=f"dropout_{len(filters) + i}")(x)
    return _era_output(x, n_classes)


def seed3s(image, n_classes: int):
    """jazzCNN, first version (seed ``000_6f02f77f43edaf6e.txt``): 3-s clips, 64 mel bands.

    The seed prints its Keras 2 code; the layer table below follows it line by line. Shapes are
    (mel bands, frames, channels) for a 3-s clip at 16 kHz (48,000 samples), 4 eras.

    Front end (Kapre 0.1 ``Melspectrogram`` in the seed, Kapre 0.4 here):

    - 64 mel bands, fmin 0, fmax None (Nyquist) [printed];
    - ``n_dft`` 512, hop 256 (``n_dft / 2``), ``padding='same'``: Kapre 0.1's defaults, not
      overridden in the seed's call [printed: the call; table: seed 001's 938 frames for 15 s
      confirm them], so 188 frames for 48,000 samples;
    - ``power_melgram=1.0``, ``return_decibel_melgram=True`` [printed]; dB floor 1e-10 and 80 dB
      range are Kapre 0.1's ``amplitude_to_decibel`` defaults [Kapre 0.1];
    - **fix**: ``sr=32`` [printed] becomes the shards' 16,000 Hz;
    - ``trainable_fb=True, trainable_kernel=True`` [printed]: not possible with Kapre 0.4 (see
      the module docstring); the front end has no weights here.

    ``Normalization2D(int_axis=-1)`` [printed] -> ``normalization2d``: the seed's layer, with
    per-clip statistics instead of per-batch ones (**fix**, module docstring).

    ======================================  =================  ==========  ===========
    layer                                   output shape       parameters  source
    ======================================  =================  ==========  ===========
    conv2d_1 16 3x3 'same', ReLU            (64, 188, 16)      160         printed
    conv2d_2 16 3x3 'valid', ReLU           (62, 186, 16)      2,320       printed
    max_pooling2d_1 2x2, dropout_1 0.25     (31, 93, 16)       0           printed
    conv2d_3 32 3x3 'same', ReLU            (31, 93, 32)       4,640       printed
    conv2d_4 32 3x3 'valid', ReLU           (29, 91, 32)       9,248       printed
    max_pooling2d_2 2x2, dropout_2 0.25     (14, 45, 32)       0           printed
    conv2d_5 64 3x3 'same', ReLU            (14, 45, 64)       18,496      printed
    conv2d_6 64 3x3 'valid', ReLU           (12, 43, 64)       36,928      printed
    max_pooling2d_3 2x2, dropout_3 0.25     (6, 21, 64)        0           printed
    flatten_1                               (8064,)            0           printed
    dense_1 256 ReLU, dropout_4 0.2         (256,)             2,064,640   printed
    dense_2 256 ReLU, dropout_5 0.2         (256,)             65,792      printed
    era: dense 4 softmax                    (4,)               1,028       printed
    ======================================  =================  ==========  ===========

    2,203,252 trainable parameters after the front end (the seed had 279,616 more in its
    trainable front end: two 512 x 257 DFT kernels and a 257 x 64 filter bank).

    Optimiser: RMSprop, learning rate 1e-4, ``decay=1e-5`` [printed] (Keras 2's
    ``lr / (1 + decay * iterations)``, here an ``InverseTimeDecay``), rho 0.9 and epsilon 1e-7
    (Keras' defaults then and now); sparse categorical cross-entropy [printed].
    """
    return _seed_cnn(image, n_classes, (16, 32, 64), (256, 256))


def seed15s(image, n_classes: int):
    """jazzCNN, second version (seed ``001_d4a53e509879d3ab.txt``): 15-s clips, 128 mel bands.

    The seed publishes a Keras layer table (output shapes and parameter counts) but no code; it
    pins every layer. Shapes for a 15-s clip at 16 kHz (240,000 samples), 4 eras; every row
    equals the seed's table [table].

    Front end: as ``seed3s`` but 128 mel bands [table: 128 rows]; 938 frames = ceil(240,000 /
    256) [table], which with 296,064 front-end parameters = 2 x 512 x 257 + 257 x 128 [table]
    pins ``n_dft`` 512 and hop 256. **Fix**: the seed's sample rate (32 Hz in its predecessor,
    not printed here) is the shards' 16 kHz. Not trainable (Kapre 0.4; module docstring).
    ``normalization2d``: the seed's ``Normalization2D`` [table], with per-clip statistics (**fix**).

    ========================================  =================  ==========
    layer                                     output shape       parameters
    ========================================  =================  ==========
    conv2d_1 32 3x3 'same', activation_1      (128, 938, 32)     320
    conv2d_2 32 3x3 'valid', activation_2     (126, 936, 32)     9,248
    max_pooling2d_1 2x2, dropout_1            (63, 468, 32)      0
    conv2d_3 64 3x3 'same', activation_3      (63, 468, 64)      18,496
    conv2d_4 64 3x3 'valid', activation_4     (61, 466, 64)      36,928
    max_pooling2d_2 2x2, dropout_2            (30, 233, 64)      0
    conv2d_5 128 3x3 'same', activation_5     (30, 233, 128)     73,856
    conv2d_6 128 3x3 'valid', activation_6    (28, 231, 128)     147,584
    max_pooling2d_3 2x2, dropout_3            (14, 115, 128)     0
    conv2d_7 256 3x3 'same', activation_7     (14, 115, 256)     295,168
    conv2d_8 256 3x3 'valid', activation_8    (12, 113, 256)     590,080
    max_pooling2d_4 2x2, dropout_4            (6, 56, 256)       0
    flatten_1                                 (86016,)           0
    dense_1 32, dropout_5                     (32,)              2,752,544
    dense_2 512, dropout_6                    (512,)             16,896
    dense_3 512, dropout_7                    (512,)             262,656
    dense_4 512, dropout_8                    (512,)             262,656
    era (the seed's dense_5) 4 softmax        (4,)               2,052
    ========================================  =================  ==========

    4,468,484 trainable parameters after the front end = the seed's 4,764,548 less its 296,064
    trainable front-end parameters [table].

    Not in the table, taken from seed 000 (same author, the version before) [printed in 000]:
    ReLU activations (the table lists ``Activation`` layers without naming the function; the
    dense layers' activation is inside them), dropout 0.25 after each pooling and 0.2 after each
    dense layer (the table shows the dropout layers but not their rates), RMSprop 1e-4 with
    decay 1e-5, sparse categorical cross-entropy.
    """
    return _seed_cnn(image, n_classes, (32, 64, 128, 256), (32, 512, 512, 512))


# ------------------------------------------------------------------------------------------------
# seed 003: spectrogram-image CNN on GTZAN


def _gtzan_cnn(x, n_classes: int, channels: tuple[int, int, int]):
    from keras import layers

    x = _standardise(x, "standardise")
    c1, c2, c3 = channels
    x = layers.Conv2D(c1, (7, 7), strides=(6, 6), padding="valid", activation="relu", name="conv1")(x)
    x = layers.Conv2D(c2, (3, 3), padding="valid", activation="relu", name="conv2")(x)
    x = layers.MaxPooling2D((2, 2), name="pool2")(x)
    x = layers.Conv2D(c3, (3, 3), padding="valid", activation="relu", name="conv3")(x)
    x = layers.MaxPooling2D((2, 2), name="pool3")(x)
    x = layers.Flatten(name="flatten")(x)
    x = layers.Dense(1024, activation="relu", name="fc1")(x)
    return _era_output(x, n_classes)


_GTZAN_COMMON = """
    Input: the seed fed 432 x 288-pixel RGB pictures of librosa mel spectrograms of GTZAN's
    30-s excerpts [printed: size, librosa, 30 s]. Here [ours]: the mel spectrogram itself of a
    **30-s clip** (GTZAN's excerpt length), one channel, **128 mel bands** (librosa's default
    ``n_mels``; the pictures' 288 pixel rows are a rendering, not bands), ``n_fft`` 2048
    (librosa's default), **hop 1112 samples** so that 30 s at 16 kHz gives **432 frames**, the
    pictures' 432 pixel columns; 'same' framing, dB with floor 1e-10 and 80 dB range (librosa's
    ``power_to_db`` defaults). ``standardise``: per-clip standardisation [ours], standing in
    for the picture's colour scaling and ``ToTensor``'s division by 255 [repo].

    Layers (PyTorch in the seed; shapes (mel bands, frames, channels) for 30 s, 4 eras):

    - ``conv1`` 7x7, stride 6, no padding, ReLU [printed: kernel, stride, ReLU after each conv;
      repo ``model_architecture.py``: no padding];
    - ``conv2`` 3x3, stride 1, no padding, ReLU, then ``pool2`` 2x2 max pooling [repo; the
      write-up says 2x2 pooling and ReLU but not the kernel or where the pooling sits];
    - ``conv3`` 3x3, no padding, ReLU, ``pool3`` 2x2 [repo]; no pooling after ``conv1`` [repo];
    - ``fc1`` 1024 ReLU [repo; not in the write-up], ``era`` softmax over the eras (the seed's
      10-way ``fc2`` and cross-entropy on its logits [printed: cross-entropy]).
    - Batch 80 and 50 epochs in the seed [repo ``Semester_Project.ipynb``]: not preset here.
"""


def gtzan_first(image, n_classes: int):
    """GTZAN spectrogram CNN, "first solution" (seed ``003_b5cff7ee5b23cdf6.txt``): 64/128/64 channels.

    {common}

    ==================================  ===============  ==========
    layer                               output shape     parameters
    ==================================  ===============  ==========
    conv1 64 7x7 /6                     (21, 71, 64)     3,200
    conv2 128 3x3                       (19, 69, 128)    73,856
    pool2                               (9, 34, 128)     0
    conv3 64 3x3                        (7, 32, 64)      73,792
    pool3                               (3, 16, 64)      0
    flatten                             (3072,)          0
    fc1 1024                            (1024,)          3,146,752
    era 4                               (4,)             4,100
    ==================================  ===============  ==========

    3,301,700 parameters (the seed's 3-channel 288 x 432 input gave its ``fc1`` 10,240 inputs).

    Optimiser: Adam, learning rate 1e-3 [printed]; betas 0.9/0.999 and epsilon 1e-8 are
    PyTorch's defaults [ours: the seed used PyTorch's Adam].
    """
    return _gtzan_cnn(image, n_classes, (64, 128, 64))


def gtzan_final(image, n_classes: int):
    """GTZAN spectrogram CNN, "final solution" (seed ``003_b5cff7ee5b23cdf6.txt``): 16/32/16 channels.

    {common}

    ==================================  ===============  ==========
    layer                               output shape     parameters
    ==================================  ===============  ==========
    conv1 16 7x7 /6                     (21, 71, 16)     800
    conv2 32 3x3                        (19, 69, 32)     4,640
    pool2                               (9, 34, 32)      0
    conv3 16 3x3                        (7, 32, 16)      4,624
    pool3                               (3, 16, 16)      0
    flatten                             (768,)           0
    fc1 1024                            (1024,)          787,456
    era 4                               (4,)             4,100
    ==================================  ===============  ==========

    801,620 parameters. Channels 16/32/16 [printed].

    Optimiser: Adagrad, learning rate 0.01 [printed]; no initial accumulator and epsilon 1e-10,
    PyTorch's defaults [ours: the seed used PyTorch's Adagrad].
    """
    return _gtzan_cnn(image, n_classes, (16, 32, 16))


gtzan_first.__doc__ = gtzan_first.__doc__.replace("{common}", _GTZAN_COMMON.strip())
gtzan_final.__doc__ = gtzan_final.__doc__.replace("{common}", _GTZAN_COMMON.strip())


# ------------------------------------------------------------------------------------------------
# seed 004: MFCC images of Spotify previews


_MFCC_COMMON = """
    Input: the seed computed 10 MFCCs per frame [printed] of 30-s Spotify previews with
    librosa's defaults (44.1 kHz, ``n_fft`` 2048, hop 512, 128 mel bands: 2,584 frames)
    [repo ``modify_data.ipynb``; the write-up prints 10 x 2,548]. Here the MFCCs are computed
    inside the model (Kapre's ``LogmelToMFCC``), so the saved model takes raw audio like every
    preset: **30-s clips** (the previews' length) at the shards' **16 kHz** [ours: the only
    rate our shards have], with the seed's window and hop *in seconds*: ``n_fft`` 744 and hop
    186 samples (2048 and 512 at 44.1 kHz are 46.4 ms and 11.6 ms, 743.0 and 185.8 samples at
    16 kHz; the window rounded up to an even length, which halves the FFT's time), so nearly the
    seed's 21.5 Hz bin spacing; 128 mel bands, 10 MFCCs, 'same' framing: **2,581 frames** for
    30 s. The seed's second ``power_to_db`` applied to the MFCCs (negative coefficients all become the floor) and its
    data-set-wide ``StandardScaler`` [repo] are replaced by per-clip standardisation of the
    MFCC image (``standardise``) [ours: a scaler fitted to the training set cannot live in a
    model that takes raw audio]. The MFCCs come from Kapre's magnitude mel spectrogram in dB,
    librosa's from the power mel spectrogram in dB, and TensorFlow's DCT-II is scaled as HTK's
    (Kapre's note); the standardisation absorbs the overall scale.
"""


def _mfcc_mlp(x, n_classes: int, hidden: tuple[int, ...]):
    from keras import layers, regularizers

    x = _standardise(x, "standardise")
    # A 1x1 pooling window with stride 20 along the frames keeps every 20th frame, unchanged.
    x = layers.MaxPooling2D(pool_size=(1, 1), strides=(1, 20), name="every_20th_frame")(x)
    x = layers.Flatten(name="flatten")(x)
    for i, units in enumerate(hidden, 1):
        x = layers.Dense(units, activation="relu", kernel_regularizer=regularizers.L2(0.01), name=f"hidden_{i}")(x)
        x = layers.Dropout(0.2, name=f"dropout_{i}")(x)
    return _era_output(x, n_classes)


_MLP_COMMON = """
    ``every_20th_frame``: only every 20th frame (all 10 MFCCs) enters the network [printed]:
    130 of 2,581 frames, 1,300 inputs (the seed's 1,274 of 2,548). The seed augmented by
    changing the offset of that 20th frame [printed]; here each epoch draws clips at new random
    positions, which changes it too. The seed's published notebook took every 20th value of the
    flattened image rather than every 20th frame [repo ``mlp.ipynb``]; we follow the write-up.

    Hidden layers: ReLU [ours: the write-up names no activation; the seed's notebook uses ReLU
    (repo ``mlp.ipynb``)], each with **L2 0.01** on its weights and followed by **dropout 0.2**
    (the write-up says "both l2 regularisation and dropout" without values; both values from
    repo ``mlp.ipynb``). ``era``: softmax over the eras (the seed's 5 genres).

    Optimiser: Adam, learning rate 1e-3, betas 0.9/0.999, epsilon 1e-8 [repo ``mlp.ipynb``];
    categorical cross-entropy [repo].
"""


def mfcc_mlp(image, n_classes: int):
    """MFCC MLP, model 1 (seed ``004_e6b2c3bf5822cc77.txt``): one hidden layer of 600 units.

    {common}

    {mlp}

    =================================  ===============  ==========
    layer                              output shape     parameters
    =================================  ===============  ==========
    every_20th_frame                   (10, 130, 1)     0
    flatten                            (1300,)          0
    hidden_1 600 [printed], dropout_1  (600,)           780,600
    era 4                              (4,)             2,404
    =================================  ===============  ==========

    783,004 parameters.
    """
    return _mfcc_mlp(image, n_classes, (600,))


def mfcc_mlp3(image, n_classes: int):
    """MFCC MLP, model 2 (seed ``004_e6b2c3bf5822cc77.txt``): hidden layers of 600, 400, 100 units.

    {common}

    {mlp}

    =================================  ===============  ==========
    layer                              output shape     parameters
    =================================  ===============  ==========
    every_20th_frame                   (10, 130, 1)     0
    flatten                            (1300,)          0
    hidden_1 600 [printed], dropout_1  (600,)           780,600
    hidden_2 400 [printed], dropout_2  (400,)           240,400
    hidden_3 100 [printed], dropout_3  (100,)           40,100
    era 4                              (4,)             404
    =================================  ===============  ==========

    1,061,504 parameters.
    """
    return _mfcc_mlp(image, n_classes, (600, 400, 100))


def mfcc_cnn(image, n_classes: int):
    """MFCC CNN (seed ``004_e6b2c3bf5822cc77.txt``): 16, 32, 32 filters, dropout 0.5, dense 250.

    {common}

    The write-up names 3 convolutional layers of 16, 32, 32 filters, a 50% dropout and a dense
    layer of 250 [printed], and links a graph of the model, ``cnn_16_32_32_d0_0.5_250.png`` in
    the seed's repository, with every layer and its output shape [table]; the layers below follow
    that graph in order. The graph shows no kernel sizes: **3x3** [ours: the common choice; the
    'same' padding the graph's shapes imply keeps every size as it was]. LeakyReLU slope 0.3
    (Keras' default, then and now) [ours]. Shapes (MFCCs, frames, channels) for 30 s, 4 eras;
    the seed's 2,584 frames gave 646, 323, 80, 20 where our 2,581 give 645, 323, 80, 20.

    ======================================  ===============  ==========
    layer                                   output shape     parameters
    ======================================  ===============  ==========
    conv2d_1 16 3x3 'same'                  (10, 2581, 16)   160
    leaky_re_lu_1                           (10, 2581, 16)   0
    max_pooling2d_1 1x4                     (10, 645, 16)    0
    batch_normalization_1                   (10, 645, 16)    64
    conv2d_2 32 3x3 'same', stride 1x2      (10, 323, 32)    4,640
    batch_normalization_2, leaky_re_lu_2    (10, 323, 32)    128
    max_pooling2d_2 1x4                     (10, 80, 32)     0
    conv2d_3 32 3x3 'same'                  (10, 80, 32)     9,248
    batch_normalization_3 (no activation)   (10, 80, 32)     128
    max_pooling2d_3 2x4                     (5, 20, 32)      0
    flatten_1                               (3200,)          0
    dropout_1 0.5                           (3200,)          0
    batch_normalization_4                   (3200,)          12,800
    dense_1 250, leaky_re_lu_3              (250,)           800,250
    era 4 softmax                           (4,)             1,004
    ======================================  ===============  ==========

    828,422 parameters, of which 6,560 are the batch normalisations' moving statistics
    (not trainable): 821,862 trainable.

    Optimiser: Adam, learning rate 5e-4, epsilon 1e-8, Keras 2 ``decay=0.01`` (an
    ``InverseTimeDecay``) [repo ``conv.ipynb``: the CNN the seed's published notebook compiles;
    the write-up names no optimiser for the CNN]; categorical cross-entropy [repo].
    """
    return _mfcc_cnn(image, n_classes)


def _mfcc_cnn(x, n_classes: int):
    from keras import layers

    x = _standardise(x, "standardise")
    x = layers.Conv2D(16, (3, 3), padding="same", name="conv2d_1")(x)
    x = layers.LeakyReLU(negative_slope=0.3, name="leaky_re_lu_1")(x)
    x = layers.MaxPooling2D((1, 4), name="max_pooling2d_1")(x)
    x = layers.BatchNormalization(momentum=0.9, name="batch_normalization_1")(x)
    x = layers.Conv2D(32, (3, 3), strides=(1, 2), padding="same", name="conv2d_2")(x)
    x = layers.BatchNormalization(momentum=0.9, name="batch_normalization_2")(x)
    x = layers.LeakyReLU(negative_slope=0.3, name="leaky_re_lu_2")(x)
    x = layers.MaxPooling2D((1, 4), name="max_pooling2d_2")(x)
    x = layers.Conv2D(32, (3, 3), padding="same", name="conv2d_3")(x)
    x = layers.BatchNormalization(momentum=0.9, name="batch_normalization_3")(x)
    x = layers.MaxPooling2D((2, 4), name="max_pooling2d_3")(x)
    x = layers.Flatten(name="flatten_1")(x)
    x = layers.Dropout(0.5, name="dropout_1")(x)
    x = layers.BatchNormalization(momentum=0.9, name="batch_normalization_4")(x)
    x = layers.Dense(250, name="dense_1")(x)
    x = layers.LeakyReLU(negative_slope=0.3, name="leaky_re_lu_3")(x)
    return _era_output(x, n_classes)


for _f in (mfcc_mlp, mfcc_mlp3, mfcc_cnn):
    _f.__doc__ = _f.__doc__.replace("{common}", _MFCC_COMMON.strip()).replace("{mlp}", _MLP_COMMON.strip())


# ------------------------------------------------------------------------------------------------
# ours


def jazzcnn_lite(image, n_classes: int):
    """Our own network (no seed): the single-conv network this project trained before issue #10.

    Kept as a fast baseline of ours, not under the seed's name: on the demo collection it
    learns in fewer steps than the faithful ``seed3s`` (3 epochs of 5 batches: every test tape
    right on 2 of 3 splits where ``seed3s`` gets half; README, "Presets compared") and trains
    about 3 times as many clips per second on a CPU. 3-s clips. The image is now laid out
    (mel bands, frames) like the seeds'; before it was (frames, mel bands), which changes
    nothing the network can learn (square kernels and pools) and no parameter count.

    - Front end: 64 mel bands, ``n_fft`` 2048, hop 512 (Kapre 0.4's defaults), no padding: 90
      frames for 3 s; dB with Kapre 0.4's floor 1e-5 and 80 dB range; sample rate 16 kHz.
    - ``input_norm``: per-clip standardisation of the dB image.
    - Three blocks of one 3x3 'same' convolution (16, 32, 64 filters, ReLU) and 2x2 'same' max
      pooling; flatten; dense 256 and 256 (ReLU), each followed by dropout 0.5; softmax.
    - RMSprop, learning rate 1e-4, no decay.

    1,663,236 parameters for 4 eras.
    """
    from keras import layers

    x = _standardise(image, "input_norm")
    for i, f in enumerate((16, 32, 64), 1):
        x = layers.Conv2D(f, 3, padding="same", activation="relu", name=f"conv{i}")(x)
        x = layers.MaxPooling2D(2, padding="same", name=f"pool{i}")(x)
    x = layers.Flatten(name="flatten")(x)
    for i in (1, 2):
        x = layers.Dense(256, activation="relu", name=f"dense{i}")(x)
        x = layers.Dropout(0.5, name=f"dropout{i}")(x)
    return _era_output(x, n_classes)


def _residual_block(x, channels: int, name: str):
    """Won et al.'s residual block: conv 3x3 stride 2, BN, ReLU, conv 3x3, BN, plus the shortcut
    (conv 3x3 stride 2 and BN where the shape changes, which with stride 2 is always), ReLU."""
    from keras import layers

    y = layers.Conv2D(channels, 3, strides=2, padding="same", name=f"{name}_conv1")(x)
    y = layers.BatchNormalization(momentum=0.9, name=f"{name}_bn1")(y)
    y = layers.Activation("relu", name=f"{name}_relu1")(y)
    y = layers.Conv2D(channels, 3, padding="same", name=f"{name}_conv2")(y)
    y = layers.BatchNormalization(momentum=0.9, name=f"{name}_bn2")(y)
    shortcut = layers.Conv2D(channels, 3, strides=2, padding="same", name=f"{name}_shortcut")(x)
    shortcut = layers.BatchNormalization(momentum=0.9, name=f"{name}_shortcut_bn")(shortcut)
    return layers.Activation("relu", name=f"{name}_out")(layers.Add(name=f"{name}_add")([y, shortcut]))


def jazzcnn(image, n_classes: int, *, width: int = 32, dropout: float = 0.5, freq_mask: int = 16,
            time_mask: int = 24, n_masks: int = 2):
    """Our recommended network for new studies: Won et al.'s short-chunk residual CNN, sized for
    small collections, with SpecAugment, random gain, label smoothing and AdamW on a cosine schedule.

    Source of the architecture: M. Won, A. Ferraro, D. Bogdanov and X. Serra (2020), "Evaluation
    of CNN-based automatic music tagging models", Proc. Sound and Music Computing (SMC),
    arXiv:2006.00751: the "short-chunk CNN + Res" that scored best or near-best of all the models
    it compared on MagnaTagATune, the Million Song Dataset and MTG-Jamendo. Facts marked
    [Won] are from the paper and the model definitions the authors published with it
    (``minzwon/sota-music-tagging-models`` on GitHub, ``training/model.py`` and
    ``training/modules.py``; facts read, no code taken); [ours] marks our choices.

    - Input: 3.69-s clips, 59,049 samples at 16 kHz [Won].
    - Front end: 128 mel bands from 0 Hz to 8 kHz (the Nyquist frequency at 16 kHz), ``n_fft``
      512, hop 256 [Won]: 231 frames. [ours] Slaney mel scale and magnitude (Kapre's, as every
      preset here), where Won used torchaudio's HTK mel scale on the power spectrum; 'same'
      zero padding where torchaudio pads by reflection (the same 231 frames); dB with a
      1e-10 floor and an 80 dB range per clip.
    - ``input_bn``: batch normalisation of the dB image [Won] (no per-clip standardisation: the
      network sees the level, which random gain below keeps it from relying on).
    - ``spec_augment`` [ours]: during training only, ``n_masks`` (1) band of up to ``freq_mask``
      (16) mel bins and ``n_masks`` stretch of up to ``time_mask`` (24) frames (0.38 s) set to
      the clip's mean: SpecAugment (Park et al. 2019), one mask of each kind as in its LB
      policy, widths scaled to our image. Masking keeps a network trained on few tapes from
      leaning on one band or one moment; two masks of each kind learned markedly slower in our
      trials (``note_sequences`` collection, README "Presets compared").
    - Seven residual blocks (``res1`` ... ``res7``), each conv 3x3 stride 2 -> BN -> ReLU ->
      conv 3x3 -> BN, added to a shortcut conv 3x3 stride 2 -> BN, then ReLU [Won]. Channels
      ``w, w, 2w, 2w, 2w, 2w, 4w`` [Won], with ``width`` w = 32 [ours] where Won used 128: with 16
      times fewer multiply-adds it trains on a CPU and fits collections of hundreds of tapes
      rather than Won's hundreds of thousands of clips (``--hparams width=128`` gives Won's
      sizes). The image shrinks to (1, 2, 4w).
    - Global max pooling over what is left [Won]; dense 4w -> BN -> ReLU -> dropout
      (``dropout`` 0.5) [Won]; softmax over the eras (Won: sigmoid over 50 tags, a multi-label
      task; eras are one label per clip).
    - ``random_gain`` [ours], on the raw audio before the front end, training only: a gain
      uniform in +-``gain_db`` (6) dB per clip: tapes differ in level for reasons of transfer,
      not style.
    - Loss: cross-entropy with label smoothing ``label_smoothing`` (0.1) [ours; Szegedy et al.
      2016]: on small, noisily labelled data (a tape's era is its recording date) it keeps the
      softmax from saturating, which also keeps the mean softmax confidence that the study
      reads meaningful.
    - Optimiser [ours]: AdamW (Loshchilov & Hutter 2019), learning rate 1e-3 (``--tune``
      candidates 1e-3 and 3e-3, chosen on the validation part), weight decay ``weight_decay``
      (1e-4), the learning rate following a cosine decay to 0 over the planned steps
      (``EPOCHS`` x steps per epoch; Loshchilov & Hutter 2017), so early stopping ends on a
      small learning rate. Won trained with Adam then SGD with manual drops.

    - Batch normalisation momentum 0.9 [Won: PyTorch's default, 0.1 in its convention]: the
      moving statistics that inference uses settle within tens of batches, which short runs on
      small collections need (Keras' default 0.99 left validation at chance for our first
      hundred batches).

    759,174 trainable parameters for 4 eras at width 32 (12,080,646 at Won's width 128).
    """
    from keras import layers

    from jazzcnn.train.layers import SpecAugmentMask

    x = layers.BatchNormalization(momentum=0.9, name="input_bn")(image)
    x = SpecAugmentMask(freq_mask=freq_mask, time_mask=time_mask, n_masks=n_masks, layout="bands_frames",
                        name="spec_augment")(x)
    for i, mult in enumerate((1, 1, 2, 2, 2, 2, 4), 1):
        x = _residual_block(x, int(width) * mult, f"res{i}")
    x = layers.GlobalMaxPooling2D(name="global_max_pool")(x)
    x = layers.Dense(4 * int(width), name="dense")(x)
    x = layers.BatchNormalization(momentum=0.9, name="dense_bn")(x)
    x = layers.Activation("relu", name="dense_relu")(x)
    x = layers.Dropout(dropout, name="dropout")(x)
    return _era_output(x, n_classes)


def _random_gain(audio, *, gain_db: float = 6.0, **_):
    """Random gain on the raw audio (training only), for presets that declare ``gain_db``."""
    from jazzcnn.train.layers import RandomGain

    return RandomGain(max_db=gain_db, name="random_gain")(audio) if gain_db else audio


def _adamw_cosine(learning_rate: float, *, total_steps: int, weight_decay: float = 1e-4, **_):
    """AdamW with a cosine decay of the learning rate to 0 over ``total_steps`` batches."""
    import keras

    schedule = keras.optimizers.schedules.CosineDecay(learning_rate, decay_steps=max(1, int(total_steps)))
    return keras.optimizers.AdamW(learning_rate=schedule, weight_decay=weight_decay)


#: Hyperparameters of the ``jazzcnn`` preset and their defaults (documented in :func:`jazzcnn`).
JAZZCNN_HPARAMS = {"width": 32, "dropout": 0.5, "freq_mask": 16, "time_mask": 24, "n_masks": 1, "gain_db": 6.0,
                   "label_smoothing": 0.1, "weight_decay": 1e-4}


# ------------------------------------------------------------------------------------------------
# the registry

_SEED_MEL = dict(n_fft=512, hop_length=256, padding="same", db_amin=1e-10, db_range=80.0)
_GTZAN_MEL = KapreMel(n_mels=128, n_fft=2048, hop_length=1112, padding="same", db_amin=1e-10)
_MFCC = KapreMel(n_mels=128, n_fft=744, hop_length=186, padding="same", db_amin=1e-10, n_mfcc=10)

PRESETS: dict[str, Preset] = {p.name: p for p in [
    Preset("seed3s", SEED_FILES["000"], 3.0, 8000, KapreMel(n_mels=64, **_SEED_MEL), seed3s,
           _rmsprop_keras2_decay(1e-5), 1e-4, "RMSprop 1e-4, decay 1e-5"),
    Preset("seed15s", SEED_FILES["001"], 15.0, 16000, KapreMel(n_mels=128, **_SEED_MEL), seed15s,
           _rmsprop_keras2_decay(1e-5), 1e-4, "RMSprop 1e-4, decay 1e-5"),
    Preset("gtzan-first", SEED_FILES["003"], 30.0, 72000, _GTZAN_MEL, gtzan_first,
           _adam(epsilon=1e-8), 1e-3, "Adam 1e-3"),
    Preset("gtzan-final", SEED_FILES["003"], 30.0, 72000, _GTZAN_MEL, gtzan_final,
           _adagrad_torch_defaults, 1e-2, "Adagrad 1e-2"),
    Preset("mfcc-mlp", SEED_FILES["004"], 30.0, 8000, _MFCC, mfcc_mlp,
           _adam(epsilon=1e-8), 1e-3, "Adam 1e-3"),
    Preset("mfcc-mlp3", SEED_FILES["004"], 30.0, 8000, _MFCC, mfcc_mlp3,
           _adam(epsilon=1e-8), 1e-3, "Adam 1e-3"),
    Preset("mfcc-cnn", SEED_FILES["004"], 30.0, 24000, _MFCC, mfcc_cnn,
           _adam(epsilon=1e-8, decay=0.01), 5e-4, "Adam 5e-4, decay 0.01"),
    Preset("jazzcnn-lite", "ours", 3.0, 8000, KapreMel(n_mels=64, n_fft=2048, hop_length=512, padding="none"),
           jazzcnn_lite, _rmsprop_plain, 1e-4, "RMSprop 1e-4"),
    Preset("jazzcnn", "ours", 59049 / 16000, 8000, KapreMel(n_mels=128, **_SEED_MEL), jazzcnn,
           _adamw_cosine, 1e-3, "AdamW 1e-3, cosine decay, weight decay 1e-4", hparams=JAZZCNN_HPARAMS,
           tune={"learning_rate": (1e-3, 3e-3)}, waveform=_random_gain),
]}
