"""TFDS video datasets (e.g. `ucf101`) as a source of videos, when already prepared.

Nothing is downloaded: an unprepared dataset is a clear error. Each item is one example
of the split (`sources.TfdsExample`), loaded alone (split slicing) by whichever worker
processes it. TFDS's ucf101 stores 25 fps frames
(the default config `ucf101_1_256` already resized to 256x256, aspect not kept; the
`ucf101/ucf101_1` config keeps the native 320x240), so frames are only resized here.
"""

import sys

import numpy as np

from preprocess import sources, video


def _builder(name, data_dir):
    import tensorflow_datasets as tfds

    try:
        builder = tfds.builder(name, data_dir=data_dir or None)
    except Exception as e:  # noqa: BLE001 - unknown name or config
        raise ValueError(f'TFDS dataset {name!r}: {e}') from None
    if not builder.is_prepared():
        raise ValueError(
            f'TFDS dataset {name!r} is not prepared in {builder.data_dir}; prepare it first '
            f'(e.g. `tfds build {name} --data_dir=...` on a machine with the data) or pass '
            '--tfds_data_dir'
        )
    return builder


def squashed_aspect_warning(builder):
    """A warning when the config stores frames resized to a fixed size, else None.

    TFDS's default ucf101 config (`ucf101_1_256`) squashes UCF101's 320x240 frames to
    256x256 before the paper's short-side resize; `ucf101/ucf101_1` keeps them as they are.
    """
    config = builder.builder_config
    width, height = getattr(config, 'width', None), getattr(config, 'height', None)
    if not (width and height):
        return None
    split = getattr(config, 'split_number', None)
    kept = [
        f'{builder.name}/{c.name}'
        for c in builder.BUILDER_CONFIGS
        if getattr(c, 'width', 0) is None and getattr(c, 'split_number', None) == split
    ]
    return (
        f'warning: TFDS {builder.name}/{config.name} stores frames resized to {width}x{height} '
        '(aspect ratio not kept), at the source frame rate; the paper resizes the short side '
        'to 256 keeping the aspect' + (f': use --tfds_name={kept[0]} for that' if kept else '')
    )


def items(name, split, data_dir=None):
    """Items of a prepared TFDS split, with labels read without decoding the videos.

    Raises:
      ValueError: unknown or unprepared dataset, unknown split.
    """
    import tensorflow_datasets as tfds

    builder = _builder(name, data_dir)
    message = squashed_aspect_warning(builder)
    if message:
        print(message, file=sys.stderr)
    classes = builder.info.features['label'].names
    try:
        dataset = builder.as_dataset(
            split=split, shuffle_files=False, decoders={'video': tfds.decode.SkipDecoding()}
        )
    except (ValueError, KeyError, AssertionError) as e:
        raise ValueError(f'TFDS dataset {name!r}, split {split!r}: {e}') from None
    out = []
    for index, example in enumerate(dataset.as_numpy_iterator()):
        label = int(example['label'])
        ref = sources.TfdsExample(name, split, index, data_dir)
        out.append(sources.Item(f'{split}_{index:06d}', '', label, classes[label], tfds=ref))
    return out, list(classes)


def frames(ref, short_side):
    """Decoded frames of one `sources.TfdsExample`, resized like every other source."""
    builder = _builder(ref.name, ref.data_dir)
    split = f'{ref.split}[{ref.index}:{ref.index + 1}]'
    dataset = builder.as_dataset(split=split, shuffle_files=False).take(1)
    example = next(dataset.as_numpy_iterator(), None)
    if example is None:
        raise ValueError(f'{ref}: no such example')
    clip = np.asarray(example['video'])
    for frame in clip:  # TFDS frames are RGB already
        if frame.ndim == 2 or frame.shape[-1] != 3:
            frame = video.to_rgb(frame)
        yield video.resize_short_side(frame, short_side) if short_side else frame
