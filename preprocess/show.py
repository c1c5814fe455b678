"""Shows what the network sees: its input frames beside their TV-L1 flow, as a GIF or MP4.

    python -m preprocess.show --video=clip.mp4 --output=clip.gif
    python -m preprocess.show --video=data/ucf101/test-00000-of-00064.tfrecord \
        --media_id=ApplyEyeMakeup/v_ApplyEyeMakeup_g01_c01 --output=clip.mp4
    python -m preprocess.show --video=v_CricketShot_g04_c01_rgb.gif --output=cricket.gif

writes one picture per network frame: on the left the RGB input (25 fps, short side 256,
the 224x224 centre crop), on the right the flow input from this frame to the next (TV-L1,
truncated to +-20 px) on the colour wheel: hue = direction (right red, down chartreuse,
left cyan, up violet), saturation = magnitude, full at 20 px; still pixels are white. A
caption gives the frame index and its time at 25 fps; the last frame, which has no next
one, shows a dark flow panel. The arrays are those `evaluate_sample.py` feeds the model
(`preprocess.clip_input.clip_inputs`), turned back into pixels, so what is drawn is the
network's input, not a second preprocessing of the clip. Prints the path written.
"""

import common.kernels  # noqa: F401  (before TensorFlow: see common/kernels.py)

# isort: split
import os
import sys

import numpy as np
from absl import app, flags

from common import cli, files, pictures
from preprocess import clip_input, video
from preprocess import streams as records

# The clip is held whole (frames, flow, pictures): ~2 GB at this many 256x340 frames.
MAX_FRAMES = 1000


def define_flags(flag_values=flags.FLAGS):
    """Defines this tool's flags in `flag_values`.

    Called only when the module runs as a program: scripts that define a --video of their
    own (evaluate_sample.py) can then be imported beside this module (absl refuses a flag
    defined twice).
    """
    flags.DEFINE_string(
        'video',
        None,
        'Raw video (.mp4, .avi, ...), shard (.tfrecord), or preprocessed .gif / .npy network '
        'input (DeepMind style: one file per stream).',
        required=True,
        flag_values=flag_values,
    )
    flags.DEFINE_string(
        'output',
        None,
        'The picture to write: .gif or .mp4.',
        required=True,
        flag_values=flag_values,
    )
    flags.DEFINE_string(
        'media_id',
        None,
        'When --video is a .tfrecord shard: the video to show (default: the first).',
        flag_values=flag_values,
    )
    flags.DEFINE_string(
        'flow_video',
        None,
        'Preprocessed flow .gif/.npy when --video is a preprocessed RGB clip (default: its '
        '*_flow twin).',
        flag_values=flag_values,
    )
    flags.DEFINE_list(
        'streams',
        ['rgb', 'flow'],
        'Streams to draw: rgb, flow or both (a flow-only .gif/.npy: --streams=flow; shards '
        'built with --flow=false: --streams=rgb).',
        flag_values=flag_values,
    )
    flags.DEFINE_integer(
        'max_frames',
        video.MAX_TEST_FRAMES,
        f'First N frames of video (paper: test on up to 250); from 1 to {MAX_FRAMES} (~2 GB in '
        'memory; no 0 = whole video here, unlike evaluate_sample.py).',
        lower_bound=1,
        upper_bound=MAX_FRAMES,
        flag_values=flag_values,
    )


def to_pixels(inputs):
    """Network inputs {stream: float32 [T, H, W, C] in [-1, 1]} -> {stream: uint8 RGB}:
    each stream's `Stream.picture` (RGB undoes its scaling; flow, back to pixels, is drawn
    on the colour wheel at the +-20 px bound)."""
    return {name: records.STREAMS[name].picture(x) for name, x in inputs.items()}


def compose(panels, fps=video.FPS):
    """{stream: uint8 [T_s, H, W, 3]} -> captioned frames [T, H + caption, W * streams, 3].

    Frame k shows RGB frame k beside flow k (from frame k to k + 1); where a stream has no
    frame k (flow ends one frame early), its panel is dark grey.
    """
    order = [s for s in records.STREAMS if s in panels]
    count = max(len(panels[s]) for s in order)
    flow_count = len(panels['flow']) if 'flow' in panels else 0
    height, width = panels[order[0]].shape[1:3]
    for s in order[1:]:
        if panels[s].shape[1:3] != (height, width):
            raise video.VideoError(
                f'the streams differ in size: {panels[order[0]].shape[1:3]} and '
                f'{panels[s].shape[1:3]}'
            )
    frames = []
    for k in range(count):
        row = [
            panels[s][k] if k < len(panels[s]) else pictures.blank_like(panels[s][0]) for s in order
        ]
        text = f'frame {k} of {count}  t = {k / fps:.2f} s'
        if 'flow' in panels:
            text += f'   flow {k}->{k + 1}' if k < flow_count else '   no flow (last frame)'
        bar = pictures.caption(text, width * len(order), legend='flow' in panels)
        frames.append(np.concatenate([np.concatenate(row, axis=1), bar], axis=0))
    return frames


def show(path, output, streams=('rgb', 'flow'), media_id=None, flow_path=None, max_frames=None):
    """Writes the picture of a clip's network input to `output`. Returns its frame count.

    Args:
      path: a raw video, a shard (.tfrecord) or a preprocessed .gif / .npy.
      output: .gif or .mp4 to write.
      streams: subset of ('rgb', 'flow').
      media_id: for a shard, which video (default: the first).
      flow_path: for a preprocessed RGB clip, its flow file (default: the `*_flow` twin).
      max_frames: frames of video to use (default: 250).

    Raises:
      ValueError: a one-line reason naming the file or flag.
    """
    chosen = {stream.name for stream in records.parse(streams)}  # one refusal for every tool
    ext = os.path.splitext(output)[1].lower()
    if ext not in pictures.ANIMATION_EXTENSIONS:
        raise ValueError(f'{output}: --output must end in .gif or .mp4')
    if os.path.isdir(output):
        raise ValueError(f'{output}: --output is a folder')
    files.check_folder(os.path.dirname(os.path.abspath(output)), target=output)
    streams = [s for s in records.STREAMS if s in chosen]
    inputs, _ = clip_input.clip_inputs(
        path, streams, media_id, flow_path, max_frames or video.MAX_TEST_FRAMES
    )
    inputs = {name: _frames(path, name, *inputs[name]) for name in streams}
    frames = compose(to_pixels(inputs))
    pictures.write_animation(output, frames, video.FPS)
    return len(frames)


def _frames(path, name, count, frames):
    """A stream's network input as one array; TV-L1 (the slow part) shows a progress bar."""
    if clip_input.computes(path, name):
        from tqdm import tqdm

        with tqdm(total=count, desc='TV-L1 flow', unit='pair', file=sys.stderr, leave=False) as bar:
            out = []
            for frame in frames:
                out.append(frame)
                bar.update(1)
        return np.stack(out)
    return np.stack(list(frames))


def main(argv, flag_values=flags.FLAGS):
    cli.reject_stray_arguments(argv)
    f = flag_values
    try:
        count = show(f.video, f.output, f.streams, f.media_id, f.flow_video, f.max_frames)
    except ValueError as e:
        sys.exit(f'error: {e}')
    except KeyboardInterrupt:  # the picture is renamed into place only when complete
        print(f'interrupted: {f.output} not written', file=sys.stderr)
        sys.exit(128 + 2)
    print(f'wrote {f.output} ({count} frame{"" if count == 1 else "s"})')


if __name__ == '__main__':
    define_flags()
    app.run(main)
