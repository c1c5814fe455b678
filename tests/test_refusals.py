"""Every command refuses bad input before loading TensorFlow, and starts quietly.

Each case runs the real command as a process (TensorFlow's import alone costs several CPU
seconds here) and measures its CPU time, not wall time, which the other processes of a
busy machine would inflate.
"""

import os

import pytest

from common.files import REPO_DIR
from tests import cli

pytestmark = pytest.mark.slow  # runs a script, or a whole job

CPU_LIMIT = 3.0  # seconds: well below TensorFlow's import (common/startup.py)
MISSING = os.path.join('no', 'such', 'place')


def _refusals(tmp_path):
    """(command argv, what its one error line must name) per command."""
    out = str(tmp_path / 'out')
    glob = os.path.join(MISSING, '*.tfrecord')
    return {
        'evaluate_sample --explain_class': (
            ['evaluate_sample.py', '--explain_class=3'],
            '--explain_class',
        ),
        'evaluate_sample --video': (
            ['evaluate_sample.py', f'--video={MISSING}.mp4'],
            f'{MISSING}.mp4',
        ),
        'evaluate --data': (['evaluate.py', f'--data={glob}'], glob),
        'train_rgb --deterministic': (
            ['train_rgb.py', f'--train_data={glob}', f'--model_dir={out}', '--deterministic'],
            '--deterministic',
        ),
        'train_flow --train_data': (
            ['train_flow.py', f'--train_data={glob}', f'--model_dir={out}'],
            glob,
        ),
        'extract_features --streams': (
            [
                'extract_features.py',
                f'--input={tmp_path}',
                f'--output_dir={out}',
                '--streams=rgb,depth',
            ],
            '--streams',
        ),
        'extract_features --rgb_checkpoint': (
            [
                'extract_features.py',
                f'--input={tmp_path}',
                f'--output_dir={out}',
                f'--rgb_checkpoint={MISSING}/model',
            ],
            '--rgb_checkpoint',
        ),
        'export_saved_model --rgb_checkpoint': (
            ['export_saved_model.py', f'--rgb_checkpoint={MISSING}/model', f'--output={out}'],
            '--rgb_checkpoint',
        ),
        'import_weights --deepmind_checkpoint': (
            [
                'import_weights.py',
                '--source=deepmind',
                f'--deepmind_checkpoint={MISSING}/model',
                f'--output={out}/model',
            ],
            '--deepmind_checkpoint',
        ),
        'import_weights --slim_checkpoint': (
            [
                'import_weights.py',
                '--source=inception_v1_2d',
                f'--slim_checkpoint={MISSING}/inception_v1.ckpt',
                f'--output={out}/model',
            ],
            '--slim_checkpoint',
        ),
        'build_shards --input_dir': (
            ['-m', 'preprocess.build_shards', f'--input_dir={MISSING}', f'--output={out}/s'],
            MISSING,
        ),
        'show --video': (
            ['-m', 'preprocess.show', f'--video={MISSING}.tfrecord', f'--output={out}.gif'],
            MISSING,
        ),
    }


@pytest.mark.parametrize('case', list(_refusals(__import__('pathlib').Path('tmp'))))
def test_bad_input_is_refused_before_tensorflow_loads(case, tmp_path):
    argv, named = _refusals(tmp_path)[case]
    result, cpu = cli.run_measured(*argv)
    assert result.returncode == 1, result.stderr[-2000:]
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith('error: '), result.stderr[-2000:]
    assert named in lines[0]
    assert cpu < CPU_LIMIT, f'{case}: {cpu:.1f} s of CPU'
    assert not os.path.exists(tmp_path / 'out')


def test_flag_constants_match_the_network():
    import i3d
    import zoo
    from inference import whole_video

    assert zoo.DEFAULT_CHUNK_FRAMES == whole_video.DEFAULT_CHUNK_FRAMES
    least = whole_video.geometry(i3d.InceptionI3d).min_chunk_frames
    with open(os.path.join(REPO_DIR, 'export_saved_model.py')) as f:
        assert f'(I3D: {least} frames;' in f.read()  # --chunk_frames' help
