"""preprocess/show.py: the picture of the network's input, on clips whose flow is known."""

import contextlib
import io
from unittest import mock

import cv2
import numpy as np
import pytest
import tensorflow as tf
from absl import flags
from motion_videos import texture
from PIL import Image, ImageSequence
from videos import write_video

from common import pictures
from preprocess import schema, show, video

CROP = video.CROP_SIZE


def _read_gif(path):
    with Image.open(path) as im:
        return [np.asarray(f.convert('RGB')) for f in ImageSequence.Iterator(im)]


def _read_mp4(path):
    capture = cv2.VideoCapture(str(path))
    frames = []
    while (found := capture.read())[0]:
        frames.append(found[1][..., ::-1])
    return frames


def _flow_colours(panel, min_saturation=40):
    """(share of coloured pixels, their hues in degrees) of a flow panel."""
    hsv = cv2.cvtColor(np.ascontiguousarray(panel), cv2.COLOR_RGB2HSV)
    coloured = hsv[..., 1] >= min_saturation
    return coloured.mean(), hsv[..., 0][coloured].astype(np.float64) * 2.0


def _near(hues, degrees, within=20.0):
    """Share of `hues` within `within` degrees of `degrees` on the circle."""
    gap = np.abs((hues - degrees + 180.0) % 360.0 - 180.0)
    return float((gap <= within).mean()) if len(hues) else 0.0


@pytest.mark.slow
def test_a_texture_moving_right_is_one_hue_and_a_still_one_none(tmp_path):
    """Frames 0 and 1 are equal (still), then the texture moves 6 px right per frame."""
    base = texture(np.random.default_rng(0), 256, 256).astype(np.uint8)
    shifts = [0, 0, 6, 12]
    path = write_video(tmp_path / 'right.avi', 25, [np.roll(base, s, axis=1)[:256] for s in shifts])
    assert show.show(path, str(tmp_path / 'right.gif')) == 4
    frames = _read_gif(tmp_path / 'right.gif')
    assert len(frames) == 4
    assert frames[0].shape == (CROP + pictures.CAPTION_HEIGHT, 2 * CROP, 3)
    # The RGB half is the model's centre crop (up to the GIF's 256-colour palette).
    expected = video.center_crop(video.read_video(path))
    for k in range(4):
        error = np.abs(frames[k][:CROP, :CROP].astype(int) - expected[k].astype(int)).mean()
        assert error < 6, (k, error)
    share, hues = _flow_colours(frames[0][:CROP, CROP:])
    assert share < 0.01  # still: white, no hue
    for k in (1, 2):  # 6 of 20 px: saturation 0.3, red (hue 0) = rightward
        share, hues = _flow_colours(frames[k][:CROP, CROP:])
        assert share > 0.9 and _near(hues, 0.0) > 0.95, (k, share, np.percentile(hues, [5, 95]))
    assert (frames[3][:CROP, CROP:] == 64).all()  # the last frame has no flow: dark grey
    assert frames[1][CROP:, : CROP // 2].max() > 200  # the caption is written


def _shard(path):
    """Two videos with constant stored flow: `right` (+10 px in x) and `down` (+10 px in y)."""
    rng = np.random.default_rng(1)
    with tf.io.TFRecordWriter(str(path)) as writer:
        for media_id, field in (('right', (10.0, 0.0)), ('down', (0.0, 10.0))):
            # Smooth frames, which MPEG-4 keeps close (random pixels it would not).
            rgb = np.stack([texture(rng, 40, 48)[:40, :48].astype(np.uint8)] * 3)
            flow = np.broadcast_to(np.float32(field), (40, 48, 2))
            meta = {'media_id': media_id, 'path': 'p', 'label_index': 0, 'label_string': 'c'}
            example = schema.make_example(
                meta,
                [schema.encode_rgb(f, 'PNG') for f in rgb],
                [schema.encode_flow(flow)] * 2,
                (40, 48),
                25.0,
                'PNG',
            )
            writer.write(example.SerializeToString())
            if media_id == 'down':
                expected = rgb
    return str(path), expected


def test_a_shard_video_by_media_id_as_mp4(tmp_path):
    shard, rgb = _shard(tmp_path / 's.tfrecord')
    out = tmp_path / 'down.mp4'
    assert show.show(shard, str(out), media_id='down') == 3
    frames = _read_mp4(out)
    assert len(frames) == 3 and frames[0].shape == (40 + pictures.CAPTION_HEIGHT, 96, 3)
    assert np.abs(frames[0][:40, :48].astype(int) - rgb[0].astype(int)).mean() < 12  # MPEG-4
    share, hues = _flow_colours(frames[0][4:36, 52:92])
    assert share == 1.0 and _near(hues, 90.0) == 1.0  # down: chartreuse
    share, hues = _flow_colours(frames[0][4:36, 52:92], min_saturation=100)
    assert share == 1.0  # 10 of 20 px: saturation 0.5
    right = tmp_path / 'right.gif'
    show.show(shard, str(right))  # default: the first video
    assert _near(_flow_colours(_read_gif(right)[0][:40, 48:])[1], 0.0) == 1.0


def _shown(clip, output, **kwargs):
    show.show(str(clip), str(output), **kwargs)
    return output


def test_preprocessed_npy_pair_and_a_flow_only_file(tmp_path):
    rgb = np.linspace(-1, 1, 2 * 32 * 32 * 3, dtype=np.float32).reshape(2, 32, 32, 3)
    flow = np.zeros((2, 32, 32, 2), np.float32)
    flow[..., 1] = -0.5  # up, 10 px, as network input
    np.save(tmp_path / 'c_rgb.npy', rgb)
    np.save(tmp_path / 'c_flow.npy', flow)
    frames = _read_gif(_shown(tmp_path / 'c_rgb.npy', tmp_path / 'both.gif'))
    assert len(frames) == 2 and frames[0].shape == (32 + pictures.CAPTION_HEIGHT, 64, 3)
    # Both frames have a flow field (DeepMind's files hold one per frame): no dark panel.
    for frame in frames:
        assert _near(_flow_colours(frame[:32, 32:])[1], 270.0) == 1.0  # up: violet
    only = _read_gif(_shown(tmp_path / 'c_flow.npy', tmp_path / 'flow.gif', streams=['flow']))
    assert only[0].shape == (32 + pictures.CAPTION_HEIGHT, 32, 3)


def test_pixels_are_the_model_input_turned_back():
    x = np.arange(256, dtype=np.uint8).reshape(1, 16, 16, 1).repeat(3, axis=-1)
    back = show.to_pixels({'rgb': video.rgb_to_model_input(x)})['rgb']
    np.testing.assert_array_equal(back, x)


def _main(*args):
    """main() in-process on its own flags; returns (exit message or '', stdout)."""
    values = flags.FlagValues()
    show.define_flags(values)
    values(['show', *args])
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        try:
            show.main(['show'], values)
        except SystemExit as e:
            return str(e.code), out.getvalue()
    return '', out.getvalue()


def test_command_line_and_one_line_refusals(tmp_path):
    shard, _ = _shard(tmp_path / 's.tfrecord')
    assert _main(f'--video={shard}', f'--output={tmp_path}/a.gif') == (
        '',
        f'wrote {tmp_path}/a.gif (3 frames)\n',
    )
    refusals = {
        (f'--video={shard}', f'--output={tmp_path}/a.png'): (
            f'error: {tmp_path}/a.png: --output must end in .gif or .mp4'
        ),
        (f'--video={tmp_path}/none.mp4', f'--output={tmp_path}/b.gif'): (
            f'error: {tmp_path}/none.mp4: no such file'
        ),
        (f'--video={shard}', '--media_id=nope', f'--output={tmp_path}/b.gif'): (
            f"error: {shard}: no video with media id 'nope'"
        ),
        (f'--video={tmp_path}/x.npy', '--media_id=a', f'--output={tmp_path}/b.gif'): (
            f'error: {tmp_path}/x.npy: --media_id applies only to .tfrecord shards'
        ),
        (f'--video={shard}', '--streams=depth', f'--output={tmp_path}/b.gif'): (
            'error: --streams: rgb, flow or rgb,flow, not depth'
        ),
        (f'--video={shard}', '--streams=rgb,rgb', f'--output={tmp_path}/b.gif'): (
            'error: --streams: rgb, flow or rgb,flow, not rgb,rgb'
        ),
        (f'--video={shard}', f'--output={tmp_path}/s.tfrecord/b.gif'): (
            f'error: {tmp_path}/s.tfrecord/b.gif: lies under the file {tmp_path}/s.tfrecord, '
            'not a folder'
        ),
        (f'--video={shard}', f'--output={tmp_path}/folder.gif'): (
            f'error: {tmp_path}/folder.gif: --output is a folder'
        ),
        (f'--video={tmp_path}/one.avi', f'--output={tmp_path}/b.gif'): (
            f'error: {tmp_path}/one.avi: 1 frame: the flow stream needs 2'
        ),
    }
    (tmp_path / 'folder.gif').mkdir()
    write_video(tmp_path / 'one.avi', 25, [np.zeros((32, 32, 3), np.uint8)])
    for args, message in refusals.items():
        assert _main(*args) == (message, ''), args
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        'a.gif',
        'folder.gif',
        'one.avi',
        's.tfrecord',
    ]
    assert _main(f'--video={tmp_path}/one.avi', '--streams=rgb', f'--output={tmp_path}/1.gif') == (
        '',
        f'wrote {tmp_path}/1.gif (1 frame)\n',
    )
    with pytest.raises(flags.IllegalFlagValueError, match='max_frames'):
        _main(f'--video={shard}', f'--output={tmp_path}/b.gif', '--max_frames=1001')
    with pytest.raises(Exception, match='Unexpected arguments'):
        show.main(['show', 'stray'])


def test_ctrl_c_is_one_line_and_leaves_no_file(tmp_path, capsys):
    shard, _ = _shard(tmp_path / 's.tfrecord')

    def interrupted(path, frames, fps):  # Ctrl-C half-way through writing the file
        with open(path, 'wb') as f:
            f.write(b'GIF89a')
        raise KeyboardInterrupt

    with mock.patch.object(pictures, '_write_gif', interrupted):
        assert _main(f'--video={shard}', f'--output={tmp_path}/a.gif') == ('130', '')
    assert capsys.readouterr().err.strip() == f'interrupted: {tmp_path}/a.gif not written'
    assert sorted(p.name for p in tmp_path.iterdir()) == ['s.tfrecord']
