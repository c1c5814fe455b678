"""inference.explain: Grad-CAM of the real I3D code, whole clips through chunks."""

import numpy as np
import pytest
import tensorflow as tf
from motion_videos import disc_frames

import i3d
import model_io
from inference import explain, whole_video

I3D = i3d.InceptionI3d


@pytest.fixture(scope='module')
def tiny_model():
    """Random weights, 3 classes, through Logits (the real network code)."""
    tf.random.set_seed(7)
    return model_io.build(i3d.InceptionI3d(num_classes=3), 3)


def _clip(frames, size, seed=0):
    return np.random.default_rng(seed).uniform(-1, 1, (frames, size, size, 3)).astype(np.float32)


@pytest.mark.slow
def test_traced_gradients_equal_eager_and_share_is_the_logit(tiny_model):
    clip = tf.constant(_clip(9, 32)[None])
    weights = i3d.pool_weights(whole_video.geometry(I3D).output_length(9), i3d.LOGITS_POOL[0])
    acts, grads = explain.chunk_gradients(tiny_model, clip, 2, weights)
    traced = explain.GradCam(tiny_model)._traced(clip, tf.constant(2), weights)
    np.testing.assert_allclose(traced[0].numpy(), acts.numpy(), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(traced[1].numpy(), grads.numpy(), rtol=1e-5, atol=1e-9)
    assert np.abs(grads.numpy()).max() > 0
    # At Mixed_5c the share is linear: <gradient, activations> == logit - bias.
    logits, _ = tiny_model(clip, is_training=False)
    _, bias = tiny_model.logits_variables
    share = float(np.sum(grads.numpy() * acts.numpy()))
    assert share == pytest.approx(float(logits[0, 2] - bias[2]), rel=1e-4, abs=1e-5)


@pytest.mark.slow
def test_heat_map_has_the_clip_shape_is_finite_and_uniform_for_a_uniform_clip(tiny_model, tmp_path):
    # 32 px: one Mixed_5c position, so a clip uniform in space has one heat per step.
    clip = np.full((10, 32, 32, 3), 0.3, np.float32)
    cam = explain.GradCam(tiny_model)
    steps = cam.steps(clip, 0, str(tmp_path))
    heat = explain.heat_map(steps, cam.stride, clip.shape[1:3], len(clip))
    assert heat.shape == clip.shape[:3]
    assert np.isfinite(heat).all() and heat.min() >= 0 and heat.max() <= 1
    assert np.ptp(heat, axis=(1, 2)).max() < 1e-6  # uniform in space, frame by frame
    # A random clip: the same shape, finite, in [0, 1].
    clip = _clip(10, 48, seed=1)
    for class_index in range(3):
        steps = cam.steps(clip, class_index, str(tmp_path))
        heat = explain.heat_map(steps, cam.stride, clip.shape[1:3], len(clip))
        assert heat.shape == clip.shape[:3] and np.isfinite(heat).all()
        assert 0 <= heat.min() and heat.max() <= 1


@pytest.mark.slow
def test_chunked_heat_equals_one_pass(tiny_model, tmp_path):
    # 150 frames: one chunk of 160, or chunks of 110 (the shortest Mixed_5c allows);
    # Mixed_4f: its steps are kept under the kept Mixed_5c steps (the harder tiling).
    clip = _clip(150, 32, seed=2)
    for endpoint in ('Mixed_4f',):
        one = explain.GradCam(tiny_model, endpoint).steps(clip, 1, str(_dir(tmp_path, 'a')))
        least = whole_video.geometry(I3D).min_chunk_frames
        assert len(whole_video.plan_chunks(150, least, whole_video.geometry(I3D))) > 1
        chunked = explain.GradCam(tiny_model, endpoint, least).steps(
            clip, 1, str(_dir(tmp_path, 'b'))
        )
        assert one.shape == chunked.shape
        assert len(one) == whole_video.geometry(I3D, endpoint).output_length(150)
        np.testing.assert_allclose(chunked, one, rtol=1e-4, atol=1e-6 * np.abs(one).max())


def test_resolve_class_and_endpoint():
    labels = ['a', 'b c', 'd']
    assert explain.resolve_class(None, labels) is None
    assert explain.resolve_class('1', labels) == 1
    assert explain.resolve_class('b c', labels) == 1
    for bad, message in (
        ('3', r'not in \[0, 2\]'),
        ('-1', r'not in \[0, 2\]'),
        ('e', 'not a class'),
    ):
        with pytest.raises(ValueError, match=message):
            explain.resolve_class(bad, labels)
    with pytest.raises(ValueError, match='--explain_endpoint'):
        explain.check_endpoint(I3D, 'Logits')


# A disc moving right, the same disc moving left (same path: only the frames' order
# differs) and the disc standing still, on random still textures, 112 px, 16 frames.
DISC_CLASSES = ('right', 'left', 'still')


def _disc_clips(rng, per_class, row=None):
    clips, labels, paths = [], [], []
    for _ in range(per_class):
        for label, direction in enumerate(DISC_CLASSES):
            speed = 0 if direction == 'still' else 4
            frames, masks = disc_frames(direction, rng, radius=14, speed=speed, row=row)
            clips.append(frames.astype(np.float32) / 127.5 - 1.0)
            labels.append(label)
            paths.append(masks.any(axis=0))  # every pixel the disc covers in the clip
    return np.stack(clips), np.array(labels), np.stack(paths)


def _train_readout(features, labels, steps=3000, rate=0.5, l2=1e-2):
    """Softmax regression on standardized features (numpy): (kernel, bias) on raw ones."""
    mean, scale = features.mean(0), features.std(0) + 1e-6
    z = (features - mean) / scale
    onehot = np.eye(len(DISC_CLASSES))[labels]
    kernel, bias = np.zeros((z.shape[1], len(DISC_CLASSES))), np.zeros(len(DISC_CLASSES))
    for _ in range(steps):
        logits = z @ kernel + bias
        p = np.exp(logits - logits.max(1, keepdims=True))
        p /= p.sum(1, keepdims=True)
        kernel -= rate * (z.T @ (p - onehot) / len(z) + l2 * kernel)
        bias -= rate * (p - onehot).mean(0)
    kernel = kernel / scale[:, None]
    return kernel, bias - mean @ kernel


@pytest.mark.slow
def test_heat_falls_on_the_moving_disc_not_the_background(rgb_weights, tmp_path):
    """A readout trained on real rgb_scratch Mixed_5c features to tell the disc's direction
    (right, left, still) puts each held-out moving disc's heat on the disc's path, in the
    disc's half of the picture. (Without the still class Grad-CAM's two maps are relu(s)
    and relu(-s) of one score s: the background's sign, not the disc, decides which
    class it heats; with it, the background reads as "still".)"""
    model, _ = model_io.load(rgb_weights)
    features = tf.function(
        lambda x: i3d.classifier_input(model(x, is_training=False)[1]['Mixed_5c'])
    )
    clips, labels, _ = _disc_clips(np.random.default_rng(0), per_class=12)
    train = np.concatenate(
        [features(tf.constant(clips[i : i + 6])).numpy() for i in range(0, 36, 6)]
    )
    kernel, bias = _train_readout(train, labels)
    w, b = model.logits_variables
    full = np.zeros(w.shape, np.float32)
    full[..., : len(DISC_CLASSES)] = kernel
    w.assign(full)
    b.assign(np.r_[bias, np.full(b.shape[0] - len(DISC_CLASSES), -1e4)].astype(np.float32))
    cam = explain.GradCam(model)
    inside, outside = [], []
    for row, half in ((28, slice(0, 56)), (84, slice(56, 112))):
        clips, labels, paths = _disc_clips(np.random.default_rng(row), per_class=2, row=row)
        logits = model(tf.constant(clips), is_training=False)[0].numpy()
        np.testing.assert_array_equal(np.argmax(logits, 1), labels)  # held out: all right
        other = slice(56, 112) if half.start == 0 else slice(0, 56)
        for clip, label, path in zip(clips, labels, paths, strict=True):
            if DISC_CLASSES[label] == 'still':
                continue
            steps = cam.steps(clip, int(label), str(_dir(tmp_path, f'{row}-{len(inside)}')))
            heat = explain.heat_map(steps, cam.stride, (112, 112), 16)
            assert np.all(np.isfinite(heat)) and 0 < heat.max() <= 1
            assert heat[:, half].mean() > 1.2 * heat[:, other].mean(), (row, label)
            inside.append(heat[:, path].mean())
            outside.append(heat[:, ~path].mean())
            assert inside[-1] > 1.1 * outside[-1], (row, label)
    # Measured (two seeds): path / background 1.2-3.4 per clip; own half / other 1.3-21.
    assert np.mean(inside) > 1.5 * np.mean(outside)


def _dir(root, name):
    path = root / name
    path.mkdir(exist_ok=True)
    return path


def test_spooled_rows_round_trip_and_are_never_mapped(tmp_path):
    """The spooled input and activations: exact rows back, and no memory mapping of the
    file (a mapping's touched pages would count as memory growing with the video)."""
    path = tmp_path / 'clip.raw'
    frames = np.random.default_rng(0).uniform(-1, 1, (10, 4, 5, 3)).astype(np.float32)
    spooled = explain.spool(iter(frames), 10, str(path))
    assert spooled.shape == (10, 4, 5, 3) and len(spooled) == 10
    np.testing.assert_array_equal(spooled[2:7], frames[2:7])
    np.testing.assert_array_equal(np.stack(list(spooled.frames(block=3))), frames)
    spooled[0:2] = frames[8:10]
    np.testing.assert_array_equal(spooled[0:2], frames[8:10])
    assert spooled[9:20].shape == (1, 4, 5, 3)  # clipped like a numpy slice
    with open('/proc/self/maps') as maps:
        assert str(path) not in maps.read()
    with pytest.raises(IndexError, match='contiguous'):
        spooled[::2]
    with pytest.raises(ValueError, match='rows of'):
        spooled[0:1] = frames[0:2]
    spooled.close()
    with pytest.raises(ValueError, match='expected 3 frames, got 2'):
        explain.spool(iter(frames[:2]), 3, str(tmp_path / 'short.raw'))
    with pytest.raises(ValueError, match='expected 1 frames, got more'):
        explain.spool(iter(frames[:2]), 1, str(tmp_path / 'long.raw'))


@pytest.mark.parametrize(
    'name, width',
    [
        ('finger snapping', 224),  # cut to 'finger snapping (...' before
        ('passing American football (not in game)', 224),  # Kinetics' longest name
        ('passing American football (not in game)', 448),  # RGB and flow side by side
        ('a class name of many words that even the smallest font cannot hold', 224),
    ],
)
def test_the_caption_names_the_class_whole_within_the_frame(name, width):
    import cv2

    from common import pictures

    count, index = 250, 254
    lines, scale = explain.caption_lines(count - 1, count, 'Mixed_5c', name, index, width)
    label = f'{name} ({index})'
    if len(lines) == 1:
        assert lines[0] == f'249/250 9.96s Mixed_5c {label}'
    else:
        assert lines[0] == '249/250 9.96s Mixed_5c' and ' '.join(lines[1:]) == label
    assert scale >= pictures.MIN_FONT_SCALE
    for line in lines:
        assert cv2.getTextSize(line, cv2.FONT_HERSHEY_SIMPLEX, scale, 1)[0][0] <= width - 8, line
    strip = pictures.caption(lines, width, scale=scale)
    assert strip.shape == (pictures.caption_height(len(lines)), width, 3)
    for i in range(len(lines)):  # every line drawn, in its own band
        band = strip[4 + i * pictures.LINE_HEIGHT : 4 + (i + 1) * pictures.LINE_HEIGHT]
        assert band.max() > 200, i  # white text (anti-aliased)
    # Every frame of the video gets the same number of lines and scale (one frame size).
    layouts = {
        (len(found), found_scale)
        for found, found_scale in (
            explain.caption_lines(k, count, 'Mixed_5c', name, index, width) for k in range(count)
        )
    }
    assert layouts == {(len(lines), scale)}
