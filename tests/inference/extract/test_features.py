"""inference.extract.features: windows, the traced forward against the eager model (features
and Logits), non-finite outputs refused, and atomic writes of the .npy outputs."""

import os

import numpy as np
import pytest
import tensorflow as tf

import model_io
from inference.extract import features
from preprocess import video
from preprocess import video_sets as videos


def test_windows():
    assert features.windows(20, 8, 4) == [(0, 8), (4, 12), (8, 16), (12, 20)]
    assert features.windows(6, 8, 4) == [(0, 6)]  # shorter than a window: one
    assert features.windows(20, 0, 4) == [(0, 20)]


@pytest.mark.slow
def test_short_logits_windows_give_the_eager_model_s_logits(random_checkpoints, tmp_path):
    """The traced forward (None dims) once gave NaN vectors of 1024 for Logits windows <= 8."""
    checkpoint = random_checkpoints['rgb']
    frames = 16
    rgb = np.random.default_rng(3).integers(0, 255, (frames, 40, 48, 3), np.uint8)
    path = tmp_path / 'clip.rgb'
    rgb.tofile(path)
    prepared = {'frames': frames, 'rgb': (str(path), rgb.shape)}
    model, _ = model_io.load(checkpoint)
    x = video.rgb_to_model_input(rgb)
    settings = features.Settings(window=1, endpoint='Logits')
    extractor = features.Extractor({'rgb': checkpoint}, settings)
    for window in (1, 2, 7, 8, 9, 16):
        extractor.settings = features.Settings(window=window, stride=window, endpoint='Logits')
        out, _ = extractor.features(prepared)
        starts = range(0, frames - window + 1, window)
        expected = []
        for s in starts:
            logits, _ = model(tf.constant(x[None, s : s + window]), is_training=False)
            expected.append(logits[0].numpy())
        assert out['rgb'].shape == (len(starts), 5) and np.all(np.isfinite(out['rgb']))
        np.testing.assert_allclose(out['rgb'], expected, rtol=1e-4, atol=1e-5)
    model.layers['Logits'].conv.b.assign([np.nan] * 5)
    broken = tmp_path / 'broken' / 'model'
    model_io.save(model, str(broken))
    extractor = features.Extractor({'rgb': str(broken)}, settings)
    with pytest.raises(ValueError, match='rgb: the model gave non-finite outputs'):
        extractor.features(prepared)
    # In a run: the video is recorded as failed, nothing is written, its work file goes.
    item = videos.Video('clip', str(tmp_path / 'clip.avi'))
    record = features.finish(extractor, item, prepared, str(tmp_path / 'out'), started=0.0)
    assert record['status'] == 'failed' and 'non-finite outputs' in record['reason']
    assert not path.exists() and not (tmp_path / 'out').exists()


@pytest.mark.slow
def test_windowed_features_of_both_streams_are_the_eager_model_s(random_checkpoints, tmp_path):
    """RGB pixels go into the traced function as uint8 and are scaled there (bit for bit
    numpy's scaling); flow is scaled by numpy. Both give the classifier input of the eager
    model on the scaled windows, batched, with a shorter first window of flow."""
    import i3d
    from preprocess import streams

    rng = np.random.default_rng(4)
    pixels = {
        'rgb': rng.integers(0, 256, (12, 40, 48, 3), np.uint8),
        'flow': rng.normal(0, 12, (11, 40, 48, 2)).astype(np.float32),  # +-20 clipped
    }
    rgb_scaled = tf.function(streams.RGB.to_model_input)(tf.constant(pixels['rgb']))
    np.testing.assert_array_equal(rgb_scaled.numpy(), streams.RGB.model_input(pixels['rgb']))
    prepared = {'frames': 12}
    for name, array in pixels.items():
        array.tofile(tmp_path / name)
        prepared[name] = (str(tmp_path / name), array.shape)
    settings = features.Settings(('rgb', 'flow'), window=8, stride=2, batch_size=2)
    out, timestamps = features.Extractor(random_checkpoints, settings).features(prepared)
    assert timestamps.shape == (3, 2)
    for name, array in pixels.items():
        stream = streams.STREAMS[name]
        model, _ = model_io.load(random_checkpoints[name])
        expected = []
        for start in (0, 2, 4):
            x = stream.model_input(array[start : start + stream.frames_in(8)])
            _, end_points = model(tf.constant(x[None]), is_training=False)
            expected.append(i3d.classifier_input(end_points['Mixed_5c'])[0].numpy())
        assert out[name].shape == (3, 1024) and out[name].dtype == np.float32
        np.testing.assert_allclose(out[name], expected, rtol=1e-4, atol=1e-5)


def test_an_interrupted_write_leaves_no_npy(tmp_path, monkeypatch):
    def crash(f, array):
        f.write(b'\x93NUMPY partial')
        raise OSError('disk full')

    monkeypatch.setattr(np, 'save', crash)
    with pytest.raises(OSError):
        features.write_outputs(str(tmp_path), 'v', {'rgb': np.zeros((1, 4))}, np.zeros((1, 2)))
    assert os.listdir(tmp_path) == []


def test_outputs_are_written_and_a_video_is_done_when_all_of_them_are(tmp_path):
    rgb, times = np.ones((2, 4), np.float32), np.array([[0, 320], [160, 480]], np.float64)
    assert not features.is_done(str(tmp_path), 'a/v', ('rgb',))
    features.write_outputs(str(tmp_path), 'a/v', {'rgb': rgb}, times)
    assert sorted(os.listdir(tmp_path / 'a')) == ['v_rgb.npy', 'v_timestamps_ms.npy']
    np.testing.assert_array_equal(np.load(tmp_path / 'a' / 'v_rgb.npy'), rgb)
    np.testing.assert_array_equal(np.load(tmp_path / 'a' / 'v_timestamps_ms.npy'), times)
    assert features.is_done(str(tmp_path), 'a/v', ('rgb',))
    assert not features.is_done(str(tmp_path), 'a/v', ('rgb', 'flow'))
