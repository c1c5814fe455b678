"""FVD's embedding: frames -> 224x224 (TF's bilinear resize) -> [-1, 1] -> I3D logits.

The reference protocol (google-research `frechet_video_distance.py`): every frame resized to
224x224 with TensorFlow 1's `tf.image.resize_bilinear` (`align_corners=False,
half_pixel_centers=False`: the legacy rule, source pixel = output pixel x scale; no aspect
preservation, no crop), scaled 2x/255 - 1 and fed to TF Hub's i3d-kinetics-400 (DeepMind's
`rgb_scratch`); the embedding is its 400 logits averaged over time, before the softmax.
`tf.raw_ops.ResizeBilinear(half_pixel_centers=False)` is the TF1 kernel itself, still in TF 2.
"""

import hashlib

import numpy as np
import tensorflow as tf

import model_io
import zoo
from preprocess import streams

SIZE = 224
# The two sampling rules ports use. half_pixel (source = (x + 0.5) x scale - 0.5) is
# TF 2's tf.image.resize and PyTorch's F.interpolate(bilinear, align_corners=False)
# without antialiasing.
RESIZE_HALF_PIXEL = {'legacy': False, 'half_pixel': True}
FVD_NETWORK = 'i3d'  # the zoo's network FVD embeds with (Unterthiner et al. 2018)
EMBEDDING = 'logits averaged over time (before softmax)'
INPUT_RANGE = '2x/255-1'


def resize(frames, mode='legacy', size=SIZE):
    """Bilinear resize of [..., H, W, C] frames to size x size (float32), by `mode`'s rule."""
    frames = tf.convert_to_tensor(frames)
    shape = tf.shape(frames)
    flat = tf.reshape(tf.cast(frames, tf.float32), tf.concat([[-1], shape[-3:]], axis=0))
    out = tf.raw_ops.ResizeBilinear(
        images=flat,
        size=[size, size],
        align_corners=False,
        half_pixel_centers=RESIZE_HALF_PIXEL[mode],
    )
    return tf.reshape(out, tf.concat([shape[:-3], [size, size], shape[-1:]], axis=0))


def weights_digest(model):
    """SHA-256 of a model's variables (names, shapes, values): the weights, not the file."""
    digest = hashlib.sha256()
    for variable in sorted(model.variables, key=lambda v: v.name):
        value = variable.numpy()
        digest.update(f'{variable.name}|{value.dtype}|{value.shape}|'.encode())
        digest.update(np.ascontiguousarray(value).tobytes())
    return digest.hexdigest()


class Embedder:
    """rgb videos (uint8 [T, H, W, 3], T >= num_frames) -> float64 [batch, classes] embeddings.

    Args:
      checkpoint: an RGB I3D checkpoint with its Logits layer (the reference: rgb_scratch).
      num_frames: frames taken from the start of each video.
      resize_mode: 'legacy' (the reference) or 'half_pixel'.

    Raises:
      ValueError: on a checkpoint problem or a flow (2-channel) model.
    """

    def __init__(self, checkpoint, num_frames=16, resize_mode='legacy'):
        if resize_mode not in RESIZE_HALF_PIXEL:
            raise ValueError(f'--resize: legacy or half_pixel, not {resize_mode!r}')
        if num_frames < 1:
            raise ValueError(f'--num_frames: at least 1, not {num_frames}')
        # FVD embeds RGB video: a flow checkpoint is refused before its weights are read.
        model, _ = model_io.load(checkpoint, stream=streams.RGB.name)
        network = zoo.name_of(type(model))
        if network != FVD_NETWORK:  # another network's logits would be another distance
            raise ValueError(
                f'{checkpoint}: a checkpoint of {network}; FVD is defined on the logits of '
                f'{FVD_NETWORK} (e.g. checkpoints/rgb_scratch/model)'
            )
        self.num_frames = num_frames
        self.config = (checkpoint, num_frames, resize_mode)  # to rebuild it on a Beam worker
        self.protocol = {
            'embedding': EMBEDDING,
            'frames': num_frames,
            'resize': f'{resize_mode} bilinear {SIZE}x{SIZE}',
            'range': INPUT_RANGE,
            'weights_sha256': weights_digest(model),
        }
        self.dim = model.num_classes
        self._prepare = tf.function(
            lambda frames: resize(frames, resize_mode) * (2.0 / 255.0) - 1.0,
            input_signature=[tf.TensorSpec([num_frames, None, None, 3], tf.uint8)],
        )
        # The clip length is static: i3d.Logits sizes its pool from static shapes.
        self._forward = tf.function(
            lambda x: model(x, is_training=False)[0],
            input_signature=[tf.TensorSpec([None, num_frames, SIZE, SIZE, 3], tf.float32)],
        )

    def check(self, video, name):
        """The first num_frames frames of `video` as uint8 [T, H, W, 3].

        Raises:
          ValueError: naming `name`, for a video of the wrong type, shape or length.
        """
        video = np.asarray(video)
        if video.dtype != np.uint8 or video.ndim != 4 or video.shape[-1] != 3:
            raise ValueError(
                f'{name}: expected uint8 RGB frames [T, H, W, 3], got {video.dtype} {video.shape}'
            )
        if video.shape[0] < self.num_frames:
            raise ValueError(
                f'{name}: {video.shape[0]} frames, shorter than --num_frames={self.num_frames}'
            )
        if min(video.shape[1:3]) < 1:
            raise ValueError(f'{name}: empty frames {video.shape[1:3]}')
        return video[: self.num_frames]

    def __call__(self, videos):
        """Embeddings of checked videos (any sizes, one batch), float64 [len(videos), dim]."""
        x = tf.stack([self._prepare(tf.constant(v)) for v in videos])
        return self._forward(x).numpy().astype(np.float64)
