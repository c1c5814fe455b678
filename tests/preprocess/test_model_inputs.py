"""preprocess.model_inputs: clips stored as network input (DeepMind's preprocessed GIFs,
.npy arrays), read back in [-1, 1] with one clear error per bad file."""

import numpy as np
import pytest
from videos import clip_arrays, index_frame, write_video

from preprocess import model_inputs, video


def test_deepmind_gif_is_decoded_back_to_network_range(shared_path):
    rgb = model_inputs.load_gif(shared_path('data', 'v_CricketShot_g04_c01_rgb.gif'), 'rgb')
    assert rgb.shape == (79, 224, 224, 3) and rgb.min() >= -1 and rgb.max() <= 1
    assert rgb.min() < -0.9 and rgb.max() > 0.9
    fl = model_inputs.load_gif(shared_path('data', 'v_CricketShot_g04_c01_flow.gif'), 'flow')
    assert fl.shape == (79, 224, 224, 2)
    assert abs(float(np.median(fl))) < 0.01  # mostly still background, stored as 0.5


def test_load_preprocessed_and_raw_clips(tmp_path):
    data = np.random.default_rng(0).uniform(-1, 1, (1, 5, 32, 32, 3)).astype(np.float32)
    np.save(tmp_path / 'c_rgb.npy', data)
    np.save(tmp_path / 'c_flow.npy', data[..., :2])
    out = model_inputs.load_preprocessed(str(tmp_path / 'c_rgb.npy'), ['rgb', 'flow'])
    np.testing.assert_array_equal(out['rgb'], data[0])
    np.testing.assert_array_equal(out['flow'], data[0, ..., :2])
    with pytest.raises(
        video.VideoError, match=r'c_rgb\.npy: has 3 channels; the flow stream needs 2'
    ):
        model_inputs.load_preprocessed(str(tmp_path / 'c_rgb.npy'), ['flow'])
    np.save(tmp_path / 'empty.npy', np.zeros((0, 8, 8, 3), np.float32))
    with pytest.raises(video.VideoError, match='empty.npy: the clip has no frames'):
        model_inputs.load_preprocessed(str(tmp_path / 'empty.npy'), ['rgb'])
    path = write_video(tmp_path / 'v.avi', 25, [index_frame(i) for i in range(4)])
    raw = clip_arrays(path, ['rgb', 'flow'], max_frames=3)  # raw videos: inference's path
    assert raw['rgb'].shape == (3, 224, 224, 3) and raw['flow'].shape == (2, 224, 224, 2)
    assert raw['flow'].min() >= -1 and raw['flow'].max() <= 1


@pytest.mark.parametrize(
    'array, message',
    [
        (
            np.zeros((4, 8, 8), np.float32),
            r'expected \[T,H,W,C\] or \[1,T,H,W,C\], got \(4, 8, 8\)',
        ),
        (np.zeros((2, 3, 8, 8, 3), np.float32), r'expected .*, got \(2, 3, 8, 8, 3\)$'),
        (np.array(['a', 'b']), 'holds <U1 values; expected numbers'),
        (np.full((2, 4, 4, 3), np.inf, np.float32), 'holds NaN or infinite values'),
    ],
)
def test_bad_npy_clips_are_one_line_naming_the_file(tmp_path, array, message):
    np.save(tmp_path / 'c.npy', array)
    with pytest.raises(video.VideoError, match=f'^{tmp_path}/c.npy: {message}'):
        model_inputs.load_npy(str(tmp_path / 'c.npy'), 'rgb')


def test_npy_frames_are_capped_and_read_as_float32(tmp_path):
    clip = np.arange(300 * 2 * 2 * 2, dtype=np.int16).reshape(300, 2, 2, 2) % 3 - 1
    np.save(tmp_path / 'c.npy', clip)
    assert model_inputs.load_npy(str(tmp_path / 'c.npy'), 'flow').shape == (250, 2, 2, 2)
    out = model_inputs.load_npy(str(tmp_path / 'c.npy'), 'flow', max_frames=7)
    assert out.dtype == np.float32 and out.shape == (7, 2, 2, 2)
    np.testing.assert_array_equal(out, clip[:7])


def test_a_gif_of_the_other_stream_is_refused(shared_path):
    gif = shared_path('data', 'v_CricketShot_g04_c01_flow.gif')
    with pytest.raises(video.VideoError) as error:
        model_inputs.load_gif(gif, 'rgb', max_frames=2)
    assert str(error.value) == (
        f'{gif}: holds flow (its third channel is constant), but the rgb stream was asked for'
    )
    assert model_inputs.load_gif(gif, 'flow', max_frames=2).shape == (2, 224, 224, 2)


def test_the_flow_twin_and_what_is_not_a_preprocessed_clip(tmp_path):
    np.save(tmp_path / 'c_rgb.npy', np.zeros((2, 4, 4, 3), np.float32))
    rgb = str(tmp_path / 'c_rgb.npy')
    assert model_inputs.flow_sibling(rgb) is None
    with pytest.raises(video.VideoError) as error:
        model_inputs.load_preprocessed(rgb, ['rgb', 'flow'])
    assert (
        str(error.value) == f'{rgb}: a preprocessed clip holds one stream; pass the flow file too'
    )
    np.save(tmp_path / 'c_flow.npy', np.zeros((2, 4, 4, 2), np.float32))
    assert model_inputs.flow_sibling(rgb) == str(tmp_path / 'c_flow.npy')
    np.save(tmp_path / 'other.npy', np.ones((2, 4, 4, 2), np.float32))
    out = model_inputs.load_preprocessed(
        rgb, ['rgb', 'flow'], flow_path=str(tmp_path / 'other.npy')
    )
    assert out['flow'].min() == 1  # an explicit flow file wins over the twin
    (tmp_path / 'c.txt').write_text('x')
    with pytest.raises(video.VideoError, match=r'c.txt: a preprocessed clip is a .gif or .npy$'):
        model_inputs.load_preprocessed(str(tmp_path / 'c.txt'), ['rgb'])
    with pytest.raises(video.VideoError, match=r'missing.npy: no such file$'):
        model_inputs.load_preprocessed(str(tmp_path / 'missing.npy'), ['rgb'])
