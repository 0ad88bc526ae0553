"""The convolutional autoencoder whose encoder turns an image into per-pixel features.

The encoder uses only 'valid' convolutions: a window grown by :func:`halo` pixels on every
side encodes to exactly the window at half resolution, with no padding inside the network.
That is what makes a tiled result equal the whole-image result: every feature depends only
on input pixels, never on where a window happens to end.

TensorFlow is imported inside the functions that need it, never at module import: a process
that has run TensorFlow cannot fork a child that runs it again (it hangs), and our server
forks a worker for every job.
"""

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

#: Training reports progress every this many steps (an epoch can take minutes on big inputs).
PROGRESS_STEPS = 10
#: Features are computed on 2 x 2 pixel cells.
STRIDE = 2


@dataclass
class Architecture:
    """Layer widths of the autoencoder."""

    bands: int = 4
    stem: int = 16
    hidden: int = 32
    features: int = 16
    #: 3x3 layers at half resolution: each widens the receptive field by 2 px per side.
    depth: int = 2

    def as_dict(self):
        return dict(bands=self.bands, stem=self.stem, hidden=self.hidden, features=self.features,
                    depth=self.depth)


def halo(architecture):
    """Input pixels each side a window needs to encode its own pixels: 1 for the 3x3 layer
    at full resolution, 2 for each 3x3 layer at half resolution."""
    a = Architecture(**architecture) if isinstance(architecture, dict) else architecture
    return 1 + 2 * a.depth


@dataclass
class TrainingConfig:
    """Everything that decides a training run (recorded beside the weights)."""

    architecture: dict = field(default_factory=lambda: Architecture().as_dict())
    seed: int = 0
    epochs: int = 20
    steps_per_epoch: int = 100
    batch_size: int = 16
    patch: int = 64
    patches_per_image: int = 256
    learning_rate: float = 2e-3
    #: Weight of the term that pulls the two dates' features together (0: plain autoencoder).
    pull_weight: float = 0.0
    #: Scale of the robust pull penalty log(1 + d^2 / c): a real change, far away, costs
    #: little, so the encoder is not taught to ignore it.
    pull_scale: float = 4.0
    #: Weight of the contrastive term (InfoNCE): a place's features on one date must pick out
    #: the same place on the other date among ``contrast_samples`` places of the batch.
    contrast_weight: float = 0.0
    temperature: float = 0.1
    contrast_samples: int = 256

    @classmethod
    def from_file(cls, path):
        return cls(**json.loads(Path(path).read_text()))

    def as_dict(self):
        return dict(self.__dict__)


def configure_threads():
    """Let TensorFlow use ``$CANDELA_THREADS`` threads when set (all CPUs otherwise)."""
    import tensorflow as tf

    threads = os.environ.get("CANDELA_THREADS")
    if threads and threads.isdigit():
        try:
            tf.config.threading.set_intra_op_parallelism_threads(int(threads))
            tf.config.threading.set_inter_op_parallelism_threads(int(threads))
        except RuntimeError:
            pass  # already initialised in this process


def build_encoder(architecture):
    """The encoder: (N + 2 * halo) px in, N / 2 feature pixels out (N even)."""
    import keras
    from keras import layers

    a = Architecture(**architecture) if isinstance(architecture, dict) else architecture
    inputs = keras.Input((None, None, a.bands), name="image")
    x = layers.Conv2D(a.stem, 3, padding="valid", activation="relu", name="stem")(inputs)
    x = layers.AveragePooling2D(2, name="pool")(x)
    for number in range(1, a.depth + 1):
        x = layers.Conv2D(a.hidden, 3, padding="valid", activation="relu", name=f"conv{number}")(x)
    features = layers.Conv2D(a.features, 1, name="features")(x)
    return keras.Model(inputs, features, name="encoder")


def build_decoder(architecture):
    """The decoder used in training: features back to the bands at full resolution."""
    import keras
    from keras import layers

    a = Architecture(**architecture) if isinstance(architecture, dict) else architecture
    inputs = keras.Input((None, None, a.features), name="features")
    x = layers.UpSampling2D(2, interpolation="bilinear", name="up")(inputs)
    x = layers.Conv2D(a.hidden, 3, padding="same", activation="relu", name="dconv1")(x)
    x = layers.Conv2D(a.stem, 3, padding="same", activation="relu", name="dconv2")(x)
    outputs = layers.Conv2D(a.bands, 1, name="bands")(x)
    return keras.Model(inputs, outputs, name="decoder")


class Encoder:
    """A trained encoder: numpy in, numpy out."""

    def __init__(self, architecture, weights_path=None):
        configure_threads()
        import tensorflow as tf

        self.model = build_encoder(architecture)
        self.halo = halo(architecture)
        if weights_path is not None:
            self.model.load_weights(str(weights_path))
        bands = self.model.input_shape[-1]
        # One trace for every window size: edge windows would otherwise each retrace.
        self._run = tf.function(lambda x: self.model(x, training=False),
                                input_signature=[tf.TensorSpec([None, None, None, bands], tf.float32)])

    def encode(self, images):
        """Features of a batch ``(n, h + 2 halo, w + 2 halo, bands)`` -> ``(n, h/2, w/2, features)``."""
        return self._run(np.ascontiguousarray(images, dtype=np.float32)).numpy()


def train(patches, config, progress=None):
    """Train an autoencoder on co-located patches ``(n, 2, span, span, bands)`` of standardised
    (before, after) pairs, ``span`` = ``config.patch + 2 * halo``.

    The loss is the reconstruction error of both dates plus ``pull_weight`` times a robust
    penalty on the distance between the two dates' standardised features, so that what
    differs between dates without being a change (illumination, season, atmosphere) stops
    separating them. Returns ``(encoder, history)``.
    """
    configure_threads()
    import keras
    import tensorflow as tf

    keras.utils.set_random_seed(config.seed)
    # Same seed, same data, same model, whatever the number of threads.
    tf.config.experimental.enable_op_determinism()
    margin = halo(config.architecture)
    rng = np.random.default_rng(config.seed)
    encoder = build_encoder(config.architecture)
    decoder = build_decoder(config.architecture)
    optimizer = keras.optimizers.Adam(config.learning_rate)
    pull_weight = tf.constant(config.pull_weight, tf.float32)
    pull_scale = tf.constant(config.pull_scale, tf.float32)

    @tf.function
    def step(batch):
        both = tf.concat([batch[:, 0], batch[:, 1]], axis=0)
        target = both[:, margin:-margin, margin:-margin, :]
        with tf.GradientTape() as tape:
            features = encoder(both, training=True)
            rebuilt = decoder(features, training=True)
            reconstruction = tf.reduce_mean(tf.square(rebuilt - target))
            standard = standardise_batch(features)
            first, second = tf.split(standard, 2, axis=0)
            distance = tf.reduce_mean(tf.square(first - second), axis=-1)
            pull = tf.reduce_mean(tf.math.log1p(distance / pull_scale))
            loss = reconstruction + pull_weight * pull
            if config.contrast_weight:
                loss += config.contrast_weight * contrastive(first, second, config.contrast_samples,
                                                             config.temperature)
        variables = encoder.trainable_variables + decoder.trainable_variables
        optimizer.apply_gradients(zip(tape.gradient(loss, variables), variables))
        return loss, reconstruction, pull

    history = []
    total = config.epochs * config.steps_per_epoch
    for epoch in range(config.epochs):
        sums = np.zeros(3)
        for number in range(1, config.steps_per_epoch + 1):
            batch = patches[rng.integers(0, len(patches), config.batch_size)]
            batch = augment(batch, rng)
            sums += [float(v) for v in step(tf.constant(batch))]
            if progress and number % PROGRESS_STEPS == 0 and number < config.steps_per_epoch:
                done = epoch * config.steps_per_epoch + number
                progress(done / total, f"epoch {epoch + 1}/{config.epochs}, step {number}/{config.steps_per_epoch}")
        mean = sums / config.steps_per_epoch
        history.append(dict(epoch=epoch + 1, loss=mean[0], reconstruction=mean[1], pull=mean[2]))
        if progress:
            progress((epoch + 1) * config.steps_per_epoch / total, f"epoch {epoch + 1}/{config.epochs}: loss {mean[0]:.4f}")
    return encoder, history


def contrastive(first, second, samples, temperature):
    """Symmetric InfoNCE between the two dates' features at ``samples`` random places of the batch."""
    import tensorflow as tf

    channels = tf.shape(first)[-1]
    flat_first = tf.reshape(first, [-1, channels])
    flat_second = tf.reshape(second, [-1, channels])
    places = tf.random.uniform([samples], 0, tf.shape(flat_first)[0], dtype=tf.int32)
    a = tf.math.l2_normalize(tf.gather(flat_first, places), axis=-1)
    b = tf.math.l2_normalize(tf.gather(flat_second, places), axis=-1)
    logits = tf.matmul(a, b, transpose_b=True) / temperature
    labels = tf.range(samples)
    loss = tf.keras.losses.sparse_categorical_crossentropy
    return 0.5 * (tf.reduce_mean(loss(labels, logits, from_logits=True))
                  + tf.reduce_mean(loss(labels, tf.transpose(logits), from_logits=True)))


def standardise_batch(features):
    """Each feature channel of each image to zero mean and unit variance (what inference does)."""
    import tensorflow as tf

    mean, variance = tf.nn.moments(features, axes=[1, 2], keepdims=True)
    return (features - mean) / tf.sqrt(variance + 1e-6)


def augment(batch, rng):
    """The same random flip and quarter turn for a whole batch (cheap, and enough)."""
    if rng.random() < 0.5:
        batch = batch[:, :, :, ::-1]
    return np.ascontiguousarray(np.rot90(batch, int(rng.integers(0, 4)), axes=(2, 3)))
