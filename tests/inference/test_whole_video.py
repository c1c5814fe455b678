"""Whole-video inference: chunked == one pass, the derived margin, streaming inputs."""

import dataclasses

import numpy as np
import pytest
import tensorflow as tf
from videos import write_video

import i3d
import model_io
from inference import whole_video
from preprocess import clip_input

I3D = i3d.InceptionI3d
GEO = whole_video.geometry(I3D)  # Mixed_5c's


SIZE = 32  # Mixed_5c is 1x1 at 32x32: fast, and the Logits pool is clamped as at 224


@pytest.fixture(scope='module')
def model():
    tf.random.set_seed(1)
    net = model_io.build(i3d.InceptionI3d(num_classes=5), 3)
    # Random BN statistics so that activations (and logits) are far from zero.
    rng = np.random.default_rng(1)
    for _, unit in net.named_units():
        if unit.batch_norm is not None:
            bn = unit.batch_norm
            shape = bn.moving_variance.average.shape
            bn.moving_variance.load(tf.constant(rng.uniform(0.2, 0.4, shape), tf.float32))
    return net


def _clip(frames, seed=0):
    return np.random.default_rng(seed).uniform(-1, 1, (frames, SIZE, SIZE, 3)).astype(np.float32)


def test_geometry_from_the_layer_table():
    # Conv3d_1a 7/2 (pad 2 or 3 before), 2c 3/1, 3b-3c, 4a 3/2 (pad 0 or 1), 4b-4f,
    # 5a 2/2 (pad 0), 5b-5c: output t reads frames [8t - 47, 8t + 54].
    assert whole_video.geometry(I3D, 'Mixed_5c') == whole_video.Geometry(8, 47, 54)
    assert whole_video.geometry(I3D, 'Conv3d_1a_7x7') == whole_video.Geometry(2, 3, 4)
    assert whole_video.geometry(I3D, 'Mixed_4f') == whole_video.Geometry(4, 31, 34)
    assert GEO.output_length(301) == 38
    with pytest.raises(ValueError, match='after Mixed_5c'):
        whole_video.geometry(I3D, 'Logits')


@pytest.mark.parametrize('frames', [200, 203])
def test_plan_tiles_the_outputs(frames):
    chunks = whole_video.plan_chunks(frames, 120, GEO)
    assert len(chunks) > 3
    assert chunks[0].keep_from == 0 and chunks[-1].keep_to == GEO.output_length(frames)
    for a, b in zip(chunks, chunks[1:], strict=False):
        assert a.keep_to == b.keep_from
        assert b.start % 8 == 0 and (b.end - b.start) % 8 == frames % 8  # same padding
        assert b.end - b.start <= 120
    with pytest.raises(ValueError, match='at least 110'):
        whole_video.plan_chunks(frames, 100, GEO)


def test_plan_in_a_graph_equals_the_eager_plan():
    """chunk_table is the one plan: on a length known only at run time (as in the exported
    SavedModel) it gives plan_chunks' chunks; each chunk keeps only exact outputs."""
    geo = whole_video.geometry(I3D)
    for chunk_frames in (110, 117, 128, 256):
        table = tf.function(
            lambda n, c=chunk_frames: whole_video.chunk_table(n, c, GEO),
            input_signature=[tf.TensorSpec([], tf.int32)],
        )
        for frames in [*range(1, 700, 7), 1000, 15001]:
            chunks = whole_video.plan_chunks(frames, chunk_frames, GEO)
            assert [tuple(c) for c in table(frames).numpy()] == [
                dataclasses.astuple(c) for c in chunks
            ]
            assert chunks[0].keep_from == 0 and chunks[-1].end == frames
            assert chunks[-1].keep_to == GEO.output_length(frames)
            for a, b in zip(chunks, chunks[1:], strict=False):
                assert a.keep_to == b.keep_from and a.end - a.start <= chunk_frames
                assert a.start % 8 == 0 and (a.end - a.start) % 8 == frames % 8
                exact_last = (a.end - a.start - 1 - geo.after) // geo.stride  # local index
                assert a.keep_to - 1 - a.start // 8 <= exact_last
                assert b.keep_from - b.start // 8 >= geo.lead


@pytest.mark.slow
@pytest.mark.parametrize('frames', [301, 296])
def test_chunked_equals_single_pass(model, frames):
    clip = _clip(frames)
    logits, end_points = model(clip[None], is_training=False)
    single = end_points['Mixed_5c'][0].numpy().mean(axis=(1, 2))
    result = whole_video.Runner(model, chunk_frames=120)(iter(clip), frames)
    assert len(whole_video.plan_chunks(frames, 120, GEO)) >= 8
    assert result.steps.shape == single.shape
    np.testing.assert_allclose(result.steps, single, atol=1e-4)
    # The classifier's input: the [2,7,7] pool (clamped to 1x1 here) averaged over time.
    pooled = tf.nn.avg_pool3d(end_points['Mixed_5c'], (1, 2, 1, 1, 1), (1,) * 5, 'VALID')
    np.testing.assert_allclose(result.features, pooled.numpy().mean(axis=(0, 1, 2, 3)), atol=1e-4)
    assert 1 < np.abs(logits[0]).max() < 100, logits
    np.testing.assert_allclose(result.logits, logits[0], atol=1e-4)
    w, b = (v.numpy() for v in model.logits_variables)
    np.testing.assert_allclose(result.features @ w.reshape(1024, 5) + b, logits[0], atol=1e-5)


def test_margin_is_needed(model):
    """Outputs one step inside the derived margin of a chunk edge differ from the full pass."""
    frames, start = 296, 64
    clip = _clip(frames, seed=2)
    full = model(clip[None], is_training=False)[1]['Mixed_5c'][0].numpy()
    length = 120  # = frames mod 8, so the chunk pads like the clip
    part = model(clip[None, start : start + length], is_training=False)[1]['Mixed_5c'][0]
    part = part.numpy()
    geo, offset = whole_video.geometry(I3D), start // 8
    lead = geo.lead
    last = (length - 1 - geo.after) // geo.stride
    # Equal up to float rounding (oneDNN blocks convolutions of other lengths differently:
    # 3.8e-6 seen); one step further out they differ by orders of magnitude more.
    np.testing.assert_allclose(
        part[lead : last + 1], full[offset + lead : offset + last + 1], rtol=1e-5, atol=1e-5
    )
    assert np.abs(part[lead - 1] - full[offset + lead - 1]).max() > 1e-3
    assert np.abs(part[last + 1] - full[offset + last + 1]).max() > 1e-3


def test_short_clip_and_frame_count_errors(model):
    clip = _clip(5)
    logits = model(clip[None], is_training=False)[0]
    runner = whole_video.Runner(model)
    np.testing.assert_allclose(runner(iter(clip), 5).logits, logits[0], atol=1e-5)
    with pytest.raises(ValueError, match='expected 6 frames, got 5'):
        runner(iter(clip), 6)
    with pytest.raises(ValueError, match='got more'):
        runner(iter(clip), 4)


@pytest.mark.slow
def test_real_weights_chunked(rgb_weights):
    """The Kinetics-400 model at 64x64 on a 200-frame clip: chunked == one pass."""
    net, _ = model_io.load(rgb_weights)
    clip = np.random.default_rng(3).uniform(-1, 1, (200, 64, 64, 3)).astype(np.float32)
    logits = net(clip[None], is_training=False)[0][0].numpy()
    result = whole_video.Runner(net, chunk_frames=128)(iter(clip), 200)
    np.testing.assert_allclose(result.logits, logits, atol=1e-4)


def _evaluate(*args):
    """evaluate_sample.main in-process: (exit code or 0, stdout, stderr)."""
    import contextlib
    import io

    from absl import flags
    from absl.testing import flagsaver

    import evaluate_sample

    out, err = io.StringIO(), io.StringIO()
    with flagsaver.flagsaver(), contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        flags.FLAGS(['evaluate_sample.py', *args])
        try:
            evaluate_sample.main(['evaluate_sample.py'])
        except SystemExit as e:
            return e.code, out.getvalue(), err.getvalue()
    return 0, out.getvalue(), err.getvalue()


@pytest.mark.slow
def test_evaluate_sample_says_when_cut_and_runs_whole_videos(model, tmp_path):
    checkpoint = model_io.save(model, str(tmp_path / 'ckpt' / 'model'))
    labels = tmp_path / 'labels.txt'
    labels.write_text('a\nb\nc\nd\ne\n')
    frames = np.random.default_rng(6).integers(0, 255, (12, 24, 32, 3), np.uint8)
    path = write_video(tmp_path / 'v.avi', 25, frames)
    common = [f'--video={path}', f'--checkpoint={checkpoint}', f'--label_map={labels}']
    code, cut, err = _evaluate(*common, '--max_frames=10')
    assert code == 0
    assert f'{path}: longer than 10 frames; using the first 10 (--max_frames=0: the whole ' in err
    # The deprecated spelling: the same run, one warning line before.
    assert _evaluate(*common, '--num_frames=10') == (
        0,
        cut,
        'warning: --num_frames is deprecated; use --max_frames\n' + err,
    )
    assert _evaluate(*common, '--num_frames=10', '--max_frames=0') == (
        'error: --num_frames=10 and --max_frames=0: one flag, two values (--num_frames is the '
        'deprecated spelling of --max_frames; give one)',
        '',
        '',
    )
    code, whole, err = _evaluate(*common, '--max_frames=0')
    assert code == 0 and 'longer' not in err
    clip = clip_input.clip_inputs(path, ['rgb'])[0]['rgb']
    logits = model(np.stack(list(clip[1]))[None], is_training=False)[0][0].numpy()
    norms = [float(text.splitlines()[0].split()[-1]) for text in (cut, whole)]
    assert norms[1] == pytest.approx(np.linalg.norm(logits), abs=1e-4)
    assert norms[0] != pytest.approx(norms[1], abs=1e-4)
