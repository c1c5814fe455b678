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
