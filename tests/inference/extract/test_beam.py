"""inference.extract.beam: the Beam DirectRunner writes what the pool writes, bit for bit,
on shards with stored flow (whose outputs equal the model on the stored frames)."""

import cli
import numpy as np
from extraction import extract, pooled
from videos import shard_example, write_video

from preprocess import flow as flow_lib
from preprocess import shards, video


def test_beam_equals_the_pool_on_shards_with_stored_flow(random_checkpoints, tmp_path):
    checkpoints = random_checkpoints
    rng = np.random.default_rng(5)
    for n in range(2):
        (tmp_path / 'in' / f'class{n}').mkdir(parents=True)
        frames = rng.integers(0, 255, (10 + n, 24, 32, 3), np.uint8)
        write_video(tmp_path / 'in' / f'class{n}' / f'v{n}.avi', 25, frames)
    prefix = tmp_path / 'shards' / 'test'
    cli.check(
        'preprocess.build_shards',
        f'--input_dir={tmp_path / "in"}',
        f'--output={prefix}',
        '--num_shards=1',
        '--short_side=24',
        '--rgb_format=png',
    )
    shard = shards.shard_path(str(prefix), 0, 1)
    outputs = {}
    for runner in ('pool', 'DirectRunner'):
        out = tmp_path / runner
        _, _, stdout = extract(
            tmp_path / 'shards' / '*.tfrecord',
            out,
            checkpoints,
            runner,
            streams=('rgb', 'flow'),
            window=6,
            stride=3,
        )
        assert '2 ok, 0 failed' in stdout, stdout
        outputs[runner] = out
    rgb, pixel_flow = shard_example(shard, 'class1/v1')
    flow = flow_lib.flow_to_model_input(pixel_flow)
    got = np.load(outputs['pool'] / 'class1' / 'v1_flow.npy')
    assert got.shape == (2, 1024)  # 11 frames: windows [0, 6) and [3, 9)
    np.testing.assert_allclose(got[1], pooled(checkpoints['flow'], flow[3:8]), atol=1e-5)
    got = np.load(outputs['pool'] / 'class1' / 'v1_rgb.npy')
    expected = pooled(checkpoints['rgb'], video.rgb_to_model_input(rgb[3:9]))
    np.testing.assert_allclose(got[1], expected, atol=1e-5)
    for name in ('class0/v0', 'class1/v1'):
        for suffix in ('rgb', 'flow', 'timestamps_ms'):
            pool, beam = (np.load(outputs[r] / f'{name}_{suffix}.npy') for r in outputs)
            np.testing.assert_array_equal(pool, beam)
