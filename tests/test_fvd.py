"""fvd.py: the reference's example.py gives 133.91; stats files round-trip; bad sets are
refused with one error line naming the file."""

import re
import subprocess
import sys

import cli
import numpy as np
import pytest

from common.files import REPO_DIR
from measure import embed_run, embedding, statistics
from tests import videos as test_videos


def _fvd(*flags, process=False):
    """fvd.py with `flags`, in this process (tests/cli.py) unless `process`; returns
    (exit code, stdout, stderr lines)."""
    if process:
        result = subprocess.run(
            [sys.executable, 'fvd.py', *flags], cwd=REPO_DIR, capture_output=True, text=True
        )
    else:
        result = cli.run('fvd', *flags)
    return result.returncode, result.stdout, result.stderr.strip().splitlines()


def test_reference_example_gives_133_91(tmp_path, rgb_weights):
    # google-research's example.py: 16 videos x 15 frames x 64x64, all 0 vs all 255. Its
    # videos are identical within a set (zero covariance), so 2 per set give its number.
    zeros, full = str(tmp_path / 'zeros.npy'), str(tmp_path / 'full.npy')
    np.save(zeros, np.zeros((2, 15, 64, 64, 3), np.uint8))
    np.save(full, np.full((2, 15, 64, 64, 3), 255, np.uint8))
    code, out, err = _fvd(f'--real={zeros}', f'--fake={full}', '--num_frames=15', '--kvd')
    assert code == 0, err[-3:]
    # 133.9082 with Eigen's kernels, 133.9089 with oneDNN's: the reference's two decimals.
    fvd = float(re.search(r'^FVD: (\S+)$', out, re.M).group(1))
    assert round(fvd, 2) == 133.91
    assert 'KVD: ' in out and '(2 real, 2 fake videos; 15 frames, resize legacy' in out


@pytest.fixture(scope='module')
def embedder(rgb_weights):
    return embedding.Embedder(rgb_weights, num_frames=2)


def _array(path, seed, n=3, frames=2, size=(24, 32)):
    rng = np.random.default_rng(seed)
    np.save(path, rng.integers(0, 256, (n, frames, *size, 3), dtype=np.uint8))
    return str(path)


def test_stats_file_gives_the_direct_number_and_refuses_another_protocol(
    tmp_path, embedder, rgb_weights
):
    real, fake = _array(tmp_path / 'real.npy', 0), _array(tmp_path / 'fake.npy', 1, n=4)
    # Batches as fvd.py's default (8): other batch sizes change float32 sums in the network.
    direct = statistics.fvd(
        embed_run.statistics_of(real, embedder).moments,
        embed_run.statistics_of(fake, embedder).moments,
    )
    saved = str(tmp_path / 'real_stats.npz')
    code, out, err = _fvd(f'--real={real}', f'--save_stats={saved}', '--num_frames=2')
    assert code == 0, err[-3:]
    assert out.startswith(f'{saved}: statistics of 3 videos')
    code, out, err = _fvd(f'--real={saved}', f'--fake={fake}', '--num_frames=2')
    assert code == 0, err[-3:]
    assert f'FVD: {direct:.4f}\n' in out
    code, out, err = _fvd(f'--real={saved}', f'--fake={fake}', '--num_frames=3')
    assert code == 1 and err[-1].startswith(f'error: {saved}: made under another protocol')
    assert 'frames: 2 vs 3' in err[-1]
    with pytest.raises(ValueError, match='holds no embeddings for --kvd'):
        embed_run.statistics_of(saved, embedder, keep_embeddings=True)
    other = embedding.Embedder(rgb_weights, num_frames=2, resize_mode='half_pixel')
    with pytest.raises(ValueError, match="resize: 'legacy bilinear 224x224' vs 'half_pixel"):
        embed_run.statistics_of(saved, other)


def test_bad_sets_are_refused_naming_the_file(tmp_path, embedder):
    one = _array(tmp_path / 'one.npy', 0, n=1)
    with pytest.raises(ValueError, match='one.npy: 1 video.*at least 2'):
        embed_run.statistics_of(one, embedder)
    short = _array(tmp_path / 'short.npy', 0, frames=1)
    with pytest.raises(ValueError, match=r'short.npy: videos of 1 frames, shorter than'):
        embed_run.statistics_of(short, embedder)
    floats = tmp_path / 'floats.npy'
    np.save(floats, np.zeros((2, 2, 4, 4, 3), np.float32))
    with pytest.raises(ValueError, match=r'floats.npy: expected uint8 frames.*float32'):
        embed_run.statistics_of(str(floats), embedder)
    folder = tmp_path / 'videos'
    folder.mkdir()
    test_videos.index_video(folder / 'a.avi', 25, 5)
    test_videos.index_video(folder / 'b.avi', 25, 1)
    with pytest.raises(ValueError, match=r'b\.avi: 1 frames, shorter than --num_frames=2'):
        embed_run.statistics_of(str(folder), embedder, workers=1)


def test_video_files_are_decoded_at_their_native_size_and_rate(tmp_path, embedder):
    folder = tmp_path / 'videos'
    folder.mkdir()
    # 10 fps, 48x40: the paper's 25 fps resampling would repeat frames, its resize change size.
    test_videos.index_video(folder / 'a.avi', 10, 4, height=40, width=48)
    test_videos.index_video(folder / 'b.avi', 10, 4, height=40, width=48)
    stats = embed_run.statistics_of(str(folder), embedder, workers=1, keep_embeddings=True)
    from inference.extract.videos import Video
    from measure import sources

    frames = sources.first_frames(Video('a', str(folder / 'a.avi')), 2)
    assert frames.shape == (2, 40, 48, 3)
    assert [test_videos.decode_index(f) for f in frames] == [0, 1]
    np.testing.assert_allclose(stats.embeddings[0], embedder([frames])[0], rtol=1e-5, atol=1e-5)


def test_cli_refusals():
    # The script's subprocess smoke test: its real entry point, exit code and stderr.
    code, _, err = _fvd('--real=nothing_here/', '--fake=x.npy', process=True)
    assert code == 1 and err[-1] == 'error: nothing_here/: no such folder, list (.txt) or shard'
    code, _, err = _fvd('--real=a.npy')
    assert code == 1 and err[-1] == 'error: --fake: required unless --save_stats is given'
