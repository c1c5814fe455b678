"""The model half of extract_features: windows (or the whole clip) -> .npy outputs.

`prepare.prepare` (in the pool's worker processes) leaves a video's pixels in raw files;
here each stream's record turns windows of them into network input, the model runs over
them, batched (or over the whole clip, exactly, through `whole_video.Runner`), and the
`.npy` outputs are written atomically. `process` does both halves in one process (the
Beam runner).
"""

import dataclasses
import os
import time

import numpy as np
import tensorflow as tf

import model_io
import zoo
from common import files, signals
from inference import whole_video
from inference.extract import prepare
from jobs import records as manifest
from preprocess import streams as records
from preprocess import video, video_sets

MS_PER_FRAME = 1000.0 / video.FPS


@dataclasses.dataclass(frozen=True)
class Settings:
    streams: tuple[str, ...] = ('rgb',)
    window: int = 64  # frames per window; 0 = the whole video (exact, chunked)
    stride: int = 64
    endpoint: str | None = None  # None: the network's feature endpoint (`endpoint_for`)
    batch_size: int = 2
    chunk_frames: int = whole_video.DEFAULT_CHUNK_FRAMES


def output_paths(output_dir, name, streams):
    """{stream or 'timestamps': path}; the timestamps file is written last (done marker)."""
    stem = os.path.join(output_dir, name)
    return {s: f'{stem}_{s}.npy' for s in streams} | {'timestamps': f'{stem}_timestamps_ms.npy'}


def is_done(output_dir, name, streams):
    return all(os.path.exists(p) for p in output_paths(output_dir, name, streams).values())


def windows(frames, window, stride):
    """[(first, end)) frame ranges; a video shorter than one window gives one window."""
    if window == 0 or frames <= window:
        return [(0, frames)]
    return [(s, s + window) for s in range(0, frames - window + 1, stride)]


def endpoint_for(checkpoints, endpoint):
    """The --endpoint of an extraction with these checkpoints ({stream: path}), checked
    against their networks (their indexes only): None is the networks' feature endpoint
    (the classifier's input; I3D's Mixed_5c).

    Raises:
      ValueError: naming the flag and the endpoints there are.
    """
    networks = {model_io.read_spec(model_io.resolve(p)).network for p in checkpoints.values()}
    if len(networks) > 1:
        names = ', '.join(sorted(zoo.name_of(n) for n in networks))
        raise ValueError(f'the checkpoints are of different networks ({names})')
    (network,) = networks
    endpoint = endpoint or network.FEATURE_ENDPOINT
    allowed = (*whole_video.grid_endpoints(network), network.LOGITS_ENDPOINT)
    if endpoint not in allowed:
        raise ValueError(
            f'--endpoint={endpoint}: not an endpoint of {zoo.name_of(network)} '
            f'(one of {", ".join(allowed)})'
        )
    return endpoint


def _load_models(checkpoints, endpoint):
    # `endpoint_for` checked it: a grid endpoint (the network truncated there) or the
    # classifier's. stream=: a checkpoint of the other stream is refused here, before any
    # decoding or TV-L1 (its input would otherwise fail the traced function after them).
    return {s: model_io.load(p, endpoint, stream=s)[0] for s, p in checkpoints.items()}


class Extractor:
    """The models of a run and their traced functions (built once, used for every video)."""

    def __init__(self, checkpoints, settings):
        if settings.endpoint is None:
            settings = dataclasses.replace(settings, endpoint=endpoint_for(checkpoints, None))
        self.settings = settings
        endpoint = settings.endpoint
        self._models = _load_models(checkpoints, endpoint)
        self._forward = {}
        self._scale = {}  # numpy scaling of the pixels before `_forward`, or None
        self._runners = {}
        for name, model in self._models.items():
            stream = records.STREAMS[name]
            pooled = endpoint in whole_video.grid_endpoints(model)

            # Integer pixels (RGB) are scaled in the graph: 4x fewer bytes in, and numpy
            # scales on one core (the same float32 operations, the same bits). Float pixels
            # (flow) come scaled by numpy: in a graph TensorFlow's division rounds
            # differently, and they are as large as the network input anyway.
            in_graph = not np.issubdtype(stream.pixel_dtype, np.floating)
            self._scale[name] = None if in_graph else stream.model_input

            def forward(pixels, model=model, stream=stream, in_graph=in_graph, pooled=pooled):
                x = stream.to_model_input(pixels) if in_graph else pixels
                out = model(x, is_training=False)
                if not pooled:
                    return out[0]
                if endpoint == model.FEATURE_ENDPOINT:  # the classifier's input: f @ w + b
                    return model.classifier_input(out[1][endpoint])
                return tf.reduce_mean(out[1][endpoint], axis=(1, 2, 3))

            spec = tf.TensorSpec(
                [None, None, None, None, model.input_channels],
                stream.pixel_dtype if in_graph else tf.float32,
            )
            self._forward[name] = tf.function(forward, input_signature=[spec])
            self._runners[name] = whole_video.Runner(
                model, settings.chunk_frames, endpoint if pooled else None
            )

    def _whole(self, stream, frames, count):
        result = self._runners[stream](frames, count)
        logits = self.settings.endpoint == self._models[stream].LOGITS_ENDPOINT
        return result.logits if logits else result.features

    def features(self, prepared):
        """({stream: float32 [windows, D]}, timestamps in ms [windows, 2]).

        Raises:
          ValueError: if the model's outputs are not finite (e.g. NaN weights).
        """
        ranges = windows(prepared['frames'], self.settings.window, self.settings.stride)
        out = {}
        for name in self.settings.streams:
            stream = records.STREAMS[name]
            path, shape = prepared[name]
            data = files.RawArray(path, shape, stream.pixel_dtype)  # read, never mapped
            frames = stream.model_input
            # Flow field t goes from frame t to t + 1: a window's frames have one fewer.
            clips = [(s, s + max(1, stream.frames_in(e - s))) for s, e in ranges]
            if self.settings.window == 0:
                rows = [self._whole(name, (frames(f) for f in data.frames()), len(data))]
            else:
                rows = []
                for k in range(0, len(clips), self.settings.batch_size):
                    batch = clips[k : k + self.settings.batch_size]
                    lengths = {e - s for s, e in batch}
                    if len(lengths) > 1:  # only the short-video window can differ
                        batch = batch[:1]
                    x = np.stack([data[s:e] for s, e in batch])
                    x = x if self._scale[name] is None else self._scale[name](x)
                    rows.extend(self._forward[name](tf.constant(x)).numpy())
            out[name] = np.stack(rows).astype(np.float32)
            if not np.all(np.isfinite(out[name])):  # NaN weights: refuse, never write them
                raise ValueError(f'{name}: the model gave non-finite outputs')
            data.close()
        timestamps = np.array(ranges, np.float64) * MS_PER_FRAME
        return out, timestamps


def write_outputs(output_dir, name, arrays, timestamps):
    """Writes `<name>_<stream>.npy` then `<name>_timestamps_ms.npy`, each atomically."""
    paths = output_paths(output_dir, name, list(arrays))
    os.makedirs(os.path.dirname(paths['timestamps']), exist_ok=True)
    for key, array in [*arrays.items(), ('timestamps', timestamps)]:
        with files.atomic_output(paths[key]) as tmp, open(tmp, 'wb') as f:
            np.save(f, array)


def finish(extractor, item, prepared, output_dir, started):
    """Model half: features of a prepared video, written; returns its manifest record."""
    try:
        with signals.interruptible():  # a signal stops the computing, not the writing
            arrays, timestamps = extractor.features(prepared)
        write_outputs(output_dir, item.name, arrays, timestamps)
    except (ValueError, OSError, tf.errors.OpError) as e:
        return manifest.failed(video_sets.identity(item), f'{type(e).__name__}: {e}')
    finally:
        prepare.remove(prepared)
    return manifest.record(
        video_sets.identity(item),
        manifest.OK,
        frames=prepared['frames'],
        windows=len(timestamps),
        elapsed_s=round(time.monotonic() - started, 3),
    )


class BeamJob:
    """extract_features on a Beam worker (`jobs.beam`): the models loaded once per worker,
    then both halves of each video there (`process`); its manifest record comes back."""

    def __init__(self, checkpoints, settings, output_dir):
        self._checkpoints = checkpoints
        self._settings = settings
        self._output_dir = output_dir

    def setup(self):
        import tempfile

        self._extractor = Extractor(self._checkpoints, self._settings)
        self._work_dir = tempfile.mkdtemp(prefix='i3d-extract-')

    def __call__(self, item):
        return process(self._extractor, item, self._output_dir, self._work_dir)


def process(extractor, item, output_dir, work_dir):
    """Both halves in this process (the Beam runner: TV-L1 pairs one at a time, as Beam
    runs elements side by side)."""
    started = time.monotonic()
    names = extractor.settings.streams
    prepared, failed = prepare.prepare_or_fail(item, names, work_dir, flow_threads=1)
    return failed or finish(extractor, item, prepared, output_dir, started)
