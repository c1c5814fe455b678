"""fvd.py: the reference's example.py gives 133.91; stats files round-trip; bad sets are
refused with one error line naming the file."""

import os
import re
import subprocess
import sys
import time

import cli
import cv2
import numpy as np
import pytest

from common.files import REPO_DIR
from measure import embed_run, embedding, statistics
from tests import videos as test_videos

pytestmark = pytest.mark.slow  # runs a script, or a whole job


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


def _complete_bars(lines):
    """How many times a progress bar was printed complete (tqdm's 100% state)."""
    return '\n'.join(lines).count('100%|')


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
    assert _complete_bars(err) == 1
    # The deprecated spelling of --rgb_checkpoint: the same run, one warning line.
    deprecated = f'--checkpoint={rgb_weights}'
    code, out, err = _fvd(f'--real={saved}', f'--fake={fake}', '--num_frames=2', deprecated)
    assert code == 0, err[-3:]
    assert f'FVD: {direct:.4f}\n' in out
    warnings = [line for line in err if line.startswith('warning:')]
    assert warnings == ['warning: --checkpoint is deprecated; use --rgb_checkpoint']
    # Videos long enough for 3 frames, so that the file's protocol is what is refused.
    fake3 = _array(tmp_path / 'fake3.npy', 1, n=4, frames=3)
    code, out, err = _fvd(f'--real={saved}', f'--fake={fake3}', '--num_frames=3')
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
    from preprocess.video_sets import Video, first_frames

    frames = first_frames(Video('a', str(folder / 'a.avi')), 2)
    assert frames.shape == (2, 40, 48, 3)
    assert [test_videos.decode_index(f) for f in frames] == [0, 1]
    np.testing.assert_allclose(stats.embeddings[0], embedder([frames])[0], rtol=1e-5, atol=1e-5)


def test_cli_refusals():
    # The script's subprocess smoke test: its real entry point, exit code and stderr.
    code, _, err = _fvd('--real=nothing_here/', '--fake=x.npy', process=True)
    assert code == 1 and err[-1] == 'error: nothing_here/: no such folder, list (.txt) or shard'
    code, _, err = _fvd('--real=a.npy')
    assert code == 1 and err[-1] == 'error: --fake: required unless --save_stats is given'


# The tests below are about fvd.py's sets, files and flags, not the network: FakeEmbedder
# stands in for it, and the pool's decoding runs in this process (tests above and
# tests/measure/test_embed_run.py cover both for real).


def _fake_rows(videos):
    """FakeEmbedder's embeddings: per-channel mean and standard deviation of each video,
    rounded to float32 as the network's are."""
    rows = [np.concatenate([v.mean(axis=(0, 1, 2)), v.std(axis=(0, 1, 2))]) for v in videos]
    return np.asarray(rows, np.float32).astype(np.float64)


class FakeEmbedder:
    """measure.embedding.Embedder's interface without a model; counts the videos it embeds."""

    dim = 6
    check = embedding.Embedder.check
    embedded = 0
    delay = 0.0  # seconds per call: long enough for tqdm to print a bar before it closes

    def __init__(self, checkpoint=None, num_frames=2, resize_mode='legacy'):
        self.num_frames = num_frames
        self.protocol = {'frames': num_frames, 'resize': resize_mode, 'weights_sha256': 'fake'}

    def __call__(self, videos):
        type(self).embedded += len(videos)
        time.sleep(self.delay)
        return _fake_rows(videos)


def _serial_map(fn, tasks, *args, **kwargs):
    """jobs.pool.ordered_map in this process: (task, fn(task)) in order."""
    return ((task, fn(task)) for task in tasks)


@pytest.fixture
def fake_model(monkeypatch):
    """fvd.py runs with FakeEmbedder (returned, its count at 0) and decodes in-process."""
    from jobs import pool

    monkeypatch.setattr(embedding, 'Embedder', FakeEmbedder)
    monkeypatch.setattr(pool, 'ordered_map', _serial_map)
    monkeypatch.setattr(FakeEmbedder, 'embedded', 0)
    return FakeEmbedder


def _decoded(path, count=2):
    """The first frames of a video file, RGB, read with OpenCV here (not by measure/)."""
    capture = cv2.VideoCapture(str(path))
    frames = []
    while len(frames) < count:
        ok, frame = capture.read()
        assert ok, path
        frames.append(cv2.cvtColor(frame, cv2.COLOR_BGR2RGB))
    capture.release()
    return np.stack(frames)


def _moments(rows):
    return statistics.Moments(rows.shape[1]).add(rows)


KINDS = ('folder', 'list', 'glob', 'shards', 'npy', 'npz', 'stats', 'stats_no_embeddings')


@pytest.fixture(scope='module')
def set_kinds(tmp_path_factory):
    """{kind: (spec, FakeEmbedder's embeddings of its 3 videos [3, 6])} for every kind of
    set, the embeddings computed from frames read here, independently of fvd.py."""
    import tensorflow as tf

    from preprocess import schema

    root = tmp_path_factory.mktemp('kinds')
    rng = np.random.default_rng(7)
    folder = root / 'videos' / 'class'  # a class folder, as build_shards wants
    folder.mkdir(parents=True)
    for i in range(3):
        frames = rng.integers(0, 256, (3 + i, 40, 48, 3), dtype=np.uint8)
        test_videos.write_video(folder / f'v{i}.avi', 10, frames)
    files = sorted(folder.glob('*.avi'))
    from_files = _fake_rows([_decoded(p) for p in files])
    listing = root / 'list.txt'
    listing.write_text(''.join(f'videos/class/{p.name}\n' for p in files))
    shards = root / 'shards'
    shards.mkdir()
    stored = rng.integers(0, 256, (3, 3, 16, 24, 3), dtype=np.uint8)
    with tf.io.TFRecordWriter(str(shards / 'part-00000-of-00001.tfrecord')) as writer:
        for i, frames in enumerate(stored):  # as build_shards writes them, PNG (lossless)
            meta = {'media_id': f'class/s{i}', 'path': f's{i}.avi', 'label_index': 0}
            meta |= {'label_string': 'class'}
            pngs = [schema.encode_rgb(f, 'PNG') for f in frames]
            example = schema.make_example(meta, pngs, [], (16, 24), 25.0, 'PNG')
            writer.write(example.SerializeToString())
    arrays = {}
    for name in ('npy', 'npz'):
        arrays[name] = rng.integers(0, 256, (3, 2, 20, 28, 3), dtype=np.uint8)
    np.save(root / 'v.npy', arrays['npy'])
    np.savez(root / 'v.npz', videos=arrays['npz'])
    rows = rng.normal(100.0, 20.0, (3, 6)).astype(np.float32).astype(np.float64)
    protocol = FakeEmbedder().protocol
    for name, kept in (('stats', rows), ('stats_no_embeddings', None)):
        stats = statistics.Stats(_moments(rows), protocol, kept)
        statistics.save(str(root / f'{name}.npz'), stats)
    return {
        'folder': (str(root / 'videos'), from_files),
        'list': (str(listing), from_files),
        'glob': (str(folder / '*.avi'), from_files),
        'shards': (str(shards / '*.tfrecord'), _fake_rows(stored[:, :2])),
        'npy': (str(root / 'v.npy'), _fake_rows(arrays['npy'])),
        'npz': (str(root / 'v.npz'), _fake_rows(arrays['npz'])),
        'stats': (str(root / 'stats.npz'), rows),
        'stats_no_embeddings': (str(root / 'stats_no_embeddings.npz'), rows),
    }


def _number(name, out):
    found = re.search(rf'^{name}: (\S+)', out, re.M)
    assert found, out
    return float(found.group(1))


@pytest.mark.parametrize('kvd', [False, True], ids=['fvd', 'kvd'])
@pytest.mark.parametrize('fake_kind', KINDS)
@pytest.mark.parametrize('real_kind', KINDS)
def test_every_pairing_of_set_kinds(set_kinds, fake_model, real_kind, fake_kind, kvd):
    (real, real_rows), (fake, fake_rows) = set_kinds[real_kind], set_kinds[fake_kind]
    flags = [f'--real={real}', f'--fake={fake}', '--num_frames=2'] + ['--kvd'] * kvd
    code, out, err = _fvd(*flags)
    errors = [line for line in err if line.startswith('error:')]
    lacking = [s for s, k in ((real, real_kind), (fake, fake_kind)) if k == 'stats_no_embeddings']
    if kvd and lacking:
        assert code == 1 and errors == [
            f'error: {lacking[0]}: holds no embeddings for --kvd (save it with --kvd)'
        ]
        assert fake_model.embedded == 0  # refused before any work
        return
    assert code == 0 and not errors, err[-3:]
    expected = statistics.fvd(_moments(real_rows), _moments(fake_rows))
    assert _number('FVD', out) == pytest.approx(expected, abs=1e-4)
    if real_kind == fake_kind:
        assert 'FVD: 0.0000\n' in out
    if kvd:
        assert _number('KVD', out) == pytest.approx(
            statistics.kvd(real_rows, fake_rows)[0], rel=1e-6, abs=1e-4
        )
    else:
        assert 'KVD' not in out
    assert '(3 real, 3 fake videos; 2 frames,' in out
    embedded = sum(3 for k in (real_kind, fake_kind) if not k.startswith('stats'))
    assert fake_model.embedded == embedded


def test_save_stats_never_writes_over_an_input(tmp_path, fake_model):
    real = _array(tmp_path / 'real.npy', 0)
    generated = test_videos.video_npz(tmp_path / 'cp.npz', 1)
    content = (tmp_path / 'cp.npz').read_bytes()
    (tmp_path / 'link.npz').symlink_to(generated)
    os.link(generated, tmp_path / 'hard.npz')
    (tmp_path / 'list.txt').write_text('real.npy\ncp.npz\n')
    # (--fake, --save_stats): the file itself, a symbolic and a hard link to it, a file a
    # .txt list names, a file a glob matches; --overwrite does not make it allowed.
    cases = [
        (generated, generated, f'{generated} is an input (--fake={generated})'),
        (generated, tmp_path / 'link.npz', f'link.npz is an input (--fake={generated})'),
        (generated, tmp_path / 'hard.npz', f'hard.npz is an input (--fake={generated})'),
        (tmp_path / 'list.txt', generated, f'is an input ({tmp_path / "cp.npz"}, listed by'),
        (tmp_path / '[cr]*.np?', generated, f'is an input ({generated}, listed by --fake='),
    ]
    for fake, output, message in cases:
        code, out, err = _fvd(
            f'--real={real}',
            f'--fake={fake}',
            f'--save_stats={output}',
            '--num_frames=2',
            '--overwrite',
        )
        assert code == 1 and err[-1].startswith('error: --save_stats: ') and message in err[-1]
        assert 'FVD' not in out and fake_model.embedded == 0
        assert (tmp_path / 'cp.npz').read_bytes() == content


def test_save_stats_replaces_a_file_only_with_overwrite(tmp_path, fake_model):
    real = _array(tmp_path / 'real.npy', 0)
    output = tmp_path / 'old.npz'
    output.write_bytes(b'an earlier result')
    code, _, err = _fvd(f'--real={real}', f'--save_stats={output}', '--num_frames=2')
    assert code == 1
    assert err[-1] == f'error: --save_stats: {output} exists; pass --overwrite to replace it'
    assert output.read_bytes() == b'an earlier result' and fake_model.embedded == 0
    code, out, err = _fvd(
        f'--real={real}', f'--save_stats={output}', '--num_frames=2', '--overwrite'
    )
    assert code == 0, err[-3:]
    assert out == f'{output}: statistics of 3 videos\n'
    assert statistics.read(str(output)).moments.n == 3
    code, _, err = _fvd(f'--real={real}', '--fake=x.npy', '--overwrite')
    assert (
        code == 1
        and err[-1] == 'error: --overwrite: only with --save_stats (it replaces that file)'
    )


def test_an_unwritable_save_stats_is_refused_before_the_work(tmp_path, fake_model):
    real = _array(tmp_path / 'real.npy', 0)
    # Root may write in any folder whatever its mode: these places refuse everyone.
    code, out, err = _fvd(f'--real={real}', f'--save_stats={real}/x.npz', '--num_frames=2')
    assert code == 1 and out == '' and fake_model.embedded == 0
    assert err[-1] == (
        f'error: --save_stats: {real}/x.npz: lies under the file {real}, not a folder'
    )
    code, out, err = _fvd(f'--real={real}', '--save_stats=/proc/x.npz', '--num_frames=2')
    assert code == 1 and out == '' and fake_model.embedded == 0
    assert err[-1].startswith('error: --save_stats: /proc/x.npz: cannot write in /proc (')
    assert not list(tmp_path.glob('*.tmp-*'))


def test_each_progress_bar_is_printed_complete_once(tmp_path, fake_model, monkeypatch):
    # Embedding slower than tqdm's refresh interval (0.1 s), as the network is: the last
    # update would print the complete bar, and closing it again.
    monkeypatch.setattr(FakeEmbedder, 'delay', 0.15)
    real, fake = _array(tmp_path / 'real.npy', 0), _array(tmp_path / 'fake.npy', 1)
    code, _, err = _fvd(f'--real={real}', f'--fake={fake}', '--num_frames=2')
    assert code == 0, err[-3:]
    assert _complete_bars(err) == 2  # one per set
    assert err[-1].count('3/3') == 1


def test_non_finite_statistics_and_distances_are_errors(tmp_path, fake_model):
    protocol = FakeEmbedder().protocol
    rows = np.random.default_rng(3).normal(size=(4, 6))
    good = str(tmp_path / 'good.npz')
    statistics.save(good, statistics.Stats(_moments(rows), protocol, rows))
    with np.load(good) as data:
        arrays = dict(data)
    nan = str(tmp_path / 'nan.npz')
    np.savez(nan, **arrays | {'mu': np.full(6, np.nan)})
    code, out, err = _fvd(f'--real={nan}', f'--fake={good}', '--num_frames=2')
    assert code == 1 and 'FVD' not in out
    assert err[-1] == f'error: {nan}: damaged statistics (mu is not finite)'
    broken = str(tmp_path / 'broken.npz')
    embeddings = arrays['embeddings'].copy()
    embeddings[1, 2] = np.nan
    np.savez(broken, **arrays | {'embeddings': embeddings})
    code, out, err = _fvd(f'--real={good}', f'--fake={broken}', '--kvd', '--num_frames=2')
    assert code == 1 and 'KVD' not in out
    assert err[-1] == f'error: {broken}: damaged statistics (embeddings is not finite)'
    # Finite statistics whose distance overflows float64.
    huge = str(tmp_path / 'huge.npz')
    moments = _moments(rows)
    moments.mean = np.full(6, 1e200)
    statistics.save(huge, statistics.Stats(moments, protocol))
    code, out, err = _fvd(f'--real={huge}', f'--fake={good}', '--num_frames=2')
    assert code == 1 and 'FVD' not in out
    assert err[-1].startswith(f'error: --real={huge} vs --fake={good}: FVD is inf, not a number')


def _fast_refusals(tmp_path):
    """(flags, the error line's file or flag) of bad runs fvd.py can refuse without a model."""
    good = _array(tmp_path / 'good.npy', 0)
    (tmp_path / 'empty').mkdir()
    checkpoint = tmp_path / 'ck' / 'model'
    checkpoint.parent.mkdir()
    (tmp_path / 'ck' / 'model.index').write_bytes(b'')  # passes the file test; never read
    plain = str(tmp_path / 'plain.npz')
    statistics.save(plain, statistics.Stats(_moments(np.eye(3)), {'frames': 2}))
    taken = tmp_path / 'taken.npz'
    taken.write_bytes(b'')
    return {
        'empty_folder': ([f'--real={tmp_path}/empty', f'--fake={good}'], f'{tmp_path}/empty'),
        'no_match': ([f'--real={good}', f'--fake={tmp_path}/*.mp4'], f'{tmp_path}/*.mp4'),
        'missing_file': ([f'--real={tmp_path}/gone.npy', f'--fake={good}'], 'gone.npy'),
        'save_not_npz': ([f'--real={good}', '--save_stats=x.npy'], '--save_stats: x.npy'),
        'save_from_stats': ([f'--real={plain}', '--save_stats=y.npz'], f'{plain} is already'),
        'kvd_no_embeddings': ([f'--real={good}', f'--fake={plain}', '--kvd'], f'{plain}: holds'),
        'kvd_flag_alone': (
            [f'--real={good}', f'--fake={good}', '--kvd_subsets=3'],
            '--kvd_subsets',
        ),
        'save_over_input': ([f'--real={good}', f'--fake={plain}', f'--save_stats={plain}'], plain),
        'save_existing': ([f'--real={good}', f'--save_stats={taken}'], str(taken)),
        'save_under_file': ([f'--real={good}', f'--save_stats={good}/s.npz'], f'{good}/s.npz'),
        'no_checkpoint': (
            [f'--real={good}', f'--fake={good}', f'--rgb_checkpoint={tmp_path}/none/model'],
            f'{tmp_path}/none/model.index',
        ),
    }, f'--rgb_checkpoint={checkpoint}'


@pytest.mark.parametrize(
    'case',
    [
        'empty_folder',
        'no_match',
        'missing_file',
        'save_not_npz',
        'save_from_stats',
        'kvd_no_embeddings',
        'kvd_flag_alone',
        'save_over_input',
        'save_existing',
        'save_under_file',
        'no_checkpoint',
    ],
)
def test_bad_runs_are_refused_before_tensorflow_loads(tmp_path, case):
    cases, checkpoint = _fast_refusals(tmp_path)
    flags, named = cases[case]
    command = [sys.executable, 'fvd.py', checkpoint, '--num_frames=2', *flags]
    result, cpu = cli.cpu_seconds_of(command)
    errors = [line for line in result.stderr.splitlines() if line.startswith('error:')]
    assert result.returncode == 1 and len(errors) == 1, result.stderr[-2000:]
    assert named in errors[0]
    assert cpu < 3.0, f'{cpu:.1f} s of CPU for: {errors[0]}'  # TensorFlow's import alone: ~3 s


def test_both_spellings_of_the_checkpoint_flag_must_agree(tmp_path):
    good = _array(tmp_path / 'good.npy', 0)
    code, _, err = _fvd(
        f'--real={good}', '--checkpoint=a/model', '--rgb_checkpoint=b/model', process=True
    )
    assert code == 1 and err == [
        'error: --checkpoint=a/model and --rgb_checkpoint=b/model: one flag, two values '
        '(--checkpoint is the deprecated spelling of --rgb_checkpoint; give one)'
    ]
