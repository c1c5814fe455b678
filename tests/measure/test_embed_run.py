"""measure/embed_run.py (on the pool and on Beam): a set's statistics from shards (their stored
frames) and on Beam's DirectRunner equal the pool's."""

import cli
import numpy as np
import pytest

from measure import embed_run, embedding
from preprocess import shards, video_sets
from preprocess.video_sets import Video
from tests import videos as test_videos


@pytest.fixture(scope='module')
def embedder(rgb_weights):
    return embedding.Embedder(rgb_weights, num_frames=2)


@pytest.fixture(scope='module')
def folder(tmp_path_factory):
    root = tmp_path_factory.mktemp('fvd_videos')
    for n in range(3):
        (root / f'class{n % 2}').mkdir(exist_ok=True)
        test_videos.index_video(root / f'class{n % 2}' / f'v{n}.avi', 25, 3 + n, height=24)
    return root


@pytest.mark.slow
def test_beam_direct_runner_equals_the_pool(folder, embedder, tmp_path):
    pool = embed_run.statistics_of(str(folder), embedder, workers=1, keep_embeddings=True)
    beam = embed_run.statistics_of(
        str(folder), embedder, keep_embeddings=True, runner='DirectRunner', work_dir=str(tmp_path)
    )
    assert pool.moments.n == beam.moments.n == 3
    np.testing.assert_allclose(beam.embeddings, pool.embeddings, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(beam.moments.mean, pool.moments.mean, rtol=1e-5, atol=1e-5)
    assert not list(tmp_path.iterdir())  # the record files are removed


@pytest.mark.slow
def test_beam_reports_a_short_video_by_name(folder, embedder, tmp_path):
    short = embedding.Embedder(embedder.config[0], num_frames=4)
    with pytest.raises(ValueError, match=r'v0\.avi: 3 frames, shorter than --num_frames=4'):
        embed_run.statistics_of(str(folder), short, runner='DirectRunner', work_dir=str(tmp_path))


@pytest.mark.slow
def test_shards_give_their_stored_frames(folder, embedder, tmp_path):
    prefix = tmp_path / 'shards' / 'test'
    cli.check(
        'preprocess.build_shards',
        f'--input_dir={folder}',
        f'--output={prefix}',
        '--num_shards=1',
        '--short_side=24',
        '--rgb_format=png',
        '--flow=false',
    )
    shard = shards.shard_path(str(prefix), 0, 1)
    stats = embed_run.statistics_of(shard, embedder, workers=1, keep_embeddings=True)
    assert stats.moments.n == 3
    rgb, _ = test_videos.shard_example(shard, 'class0/v0')
    frames = video_sets.first_frames(Video('class0/v0', shard, 'class0/v0'), 2)
    np.testing.assert_array_equal(frames, rgb[:2])
    index = [v.name for v in video_sets.list_videos(shard)].index('class0/v0')
    np.testing.assert_allclose(stats.embeddings[index], embedder([frames])[0], rtol=1e-5, atol=1e-5)
