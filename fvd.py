"""Fréchet Video Distance (and KVD) with DeepMind's I3D, exactly as the reference computes it.

    python fvd.py --real=real_videos/ --fake=generated.npy            # prints FVD
    python fvd.py --real=real_videos/ --save_stats=real_stats.npz [--kvd]  # reference stats
    python fvd.py --real=real_stats.npz --fake=generated/ [--kvd]

prints `FVD: <value>` (and `KVD: <mean> ± <std>` with --kvd) and the settings used. A set
is a folder / .txt list / glob of videos (any format the project reads, decoded as they
are: native frame rate and size) or build_shards shards, a .npy/.npz uint8 array
[N, T, H, W, 3], or a statistics file of --save_stats. The first --num_frames frames of
each video are used; a shorter video is an error naming it. Protocol (google-research's
frechet_video_distance.py): frames resized to 224x224 with TF's legacy bilinear rule,
2x/255 - 1, the 400 time-averaged logits of rgb_scratch (= TF Hub i3d-kinetics-400), TF-GAN's
Fréchet distance in float64. --resize and --covariance reproduce the ports' choices
(README). Exit code 1 with one `error:` line on bad input, found before the model is loaded
wherever that is possible (sets, output path, flags); --save_stats never writes over one of
the inputs, nor over an existing file without --overwrite.
"""

import common.kernels  # noqa: F401  (before TensorFlow: see common/kernels.py)

# isort: split
import common.stop_on_signals  # noqa: F401  (then: a Ctrl-C while TensorFlow loads)

# isort: split
import os
import sys

from absl import app, flags

from common import cli, flag_aliases
from jobs import flags as jobs_flags

FLAGS = flags.FLAGS
flags.DEFINE_string('real', None, 'Real set: videos (folder, .txt, glob), .npy/.npz, or stats.')
flags.DEFINE_string('fake', None, 'Generated set (same kinds as --real).')
flags.DEFINE_string('save_stats', None, "Write the --real set's statistics to this .npz.")
flags.DEFINE_bool('overwrite', False, 'Replace an existing --save_stats file.')
flags.DEFINE_integer('num_frames', 16, 'Frames taken from the start of every video.', 1)
flags.DEFINE_enum(
    'resize',
    'legacy',
    ['legacy', 'half_pixel'],
    'Bilinear rule to 224x224: legacy = the reference (TF1 resize_bilinear); half_pixel = '
    'TF2 tf.image.resize / PyTorch F.interpolate(align_corners=False), as most ports.',
)
flags.DEFINE_enum(
    'covariance',
    'unbiased',
    ['unbiased', 'biased'],
    'unbiased (n-1, the reference / TF-GAN) or biased (n, StyleGAN-V and cd-fvd).',
)
flags.DEFINE_bool('kvd', False, 'Also print KVD (unbiased polynomial-kernel MMD, as KID).')
flags.DEFINE_integer('kvd_subsets', 100, 'KVD: random subsets averaged.', 1)
flags.DEFINE_integer('kvd_subset_size', 1000, 'KVD: videos per subset (capped by the sets).', 2)
flags.DEFINE_string('rgb_checkpoint', 'checkpoints/rgb_scratch/model', 'RGB I3D checkpoint.')
flag_aliases.define('checkpoint', 'rgb_checkpoint')
flags.DEFINE_integer('batch_size', 8, 'Videos per network call (memory ~9 MB per frame).', 1)
jobs_flags.define()
flags.DEFINE_string('work_dir', None, 'Beam: where workers write embeddings (default: tmp).')


def _check_flags():
    if not FLAGS.real:
        raise ValueError('--real: required')
    if not FLAGS.fake and not FLAGS.save_stats:
        raise ValueError('--fake: required unless --save_stats is given')
    if FLAGS.save_stats and not FLAGS.save_stats.lower().endswith('.npz'):
        raise ValueError(f'--save_stats: {FLAGS.save_stats}: name it .npz')
    if FLAGS.overwrite and not FLAGS.save_stats:
        raise ValueError('--overwrite: only with --save_stats (it replaces that file)')
    for name in ('kvd_subsets', 'kvd_subset_size'):
        if FLAGS[name].present and not FLAGS.kvd:
            raise ValueError(f'--{name}: only with --kvd')


def _same_file(a, b):
    try:
        return os.path.samefile(a, b)  # also hard links
    except OSError:  # one of them does not exist
        return os.path.realpath(a) == os.path.realpath(b)


def _check_output(path, sets):
    """--save_stats: none of the files the sets read, new unless --overwrite, and its folder
    writable (a file is created and removed there), so that no work is lost at the end."""
    from common import files

    for flag, videos in sets:
        for read in videos.files():
            if path == read or ('://' not in path and _same_file(path, read)):
                what = '' if read == videos.spec else f'{read}, listed by '
                raise ValueError(
                    f'--save_stats: {path} is an input ({what}{flag}={videos.spec}); '
                    'write the statistics elsewhere'
                )
    if '://' in path:  # remote: left to the writer
        return
    if os.path.isdir(path):
        raise ValueError(f'--save_stats: {path} is a folder')
    if os.path.lexists(path) and not FLAGS.overwrite:
        raise ValueError(f'--save_stats: {path} exists; pass --overwrite to replace it')
    folder = os.path.dirname(os.path.abspath(path))
    try:
        files.make_folder(folder, target=path)
    except ValueError as e:
        raise ValueError(f'--save_stats: {e}') from None
    probe = files.temporary_name(path)
    try:
        with open(probe, 'wb'):
            pass
        os.remove(probe)
    except OSError as e:
        raise ValueError(f'--save_stats: {path}: cannot write in {folder} ({e.strerror})') from None


def _checked_sets():
    """Every check that needs no model, before TensorFlow is imported (~3 s of CPU):
    flags, the checkpoint's index, both sets (kinds, files, counts, statistics' arrays) and
    the --save_stats path. Returns the opened (--real, --fake or None) sets.

    Raises:
      ValueError: naming the flag or file and the problem.
    """
    from measure import sources

    flag_aliases.apply()
    _check_flags()
    jobs_flags.check(FLAGS.runner, FLAGS.beam_options)
    cli.check_checkpoint('rgb_checkpoint', FLAGS.rgb_checkpoint)
    real = sources.open_set(FLAGS.real, FLAGS.num_frames)
    if FLAGS.save_stats and real.kind == sources.STATISTICS:
        raise ValueError(f'--save_stats: {FLAGS.real} is already a statistics file')
    sets = [('--real', real)]
    if FLAGS.fake:
        sets.append(('--fake', sources.open_set(FLAGS.fake, FLAGS.num_frames)))
    for _, videos in sets:
        if FLAGS.kvd and videos.kind == sources.STATISTICS and videos.stats.embeddings is None:
            raise ValueError(f'{videos.spec}: holds no embeddings for --kvd (save it with --kvd)')
    if FLAGS.save_stats:
        _check_output(FLAGS.save_stats, sets)
    return real, sets[1][1] if FLAGS.fake else None


def _distances(real, fake, statistics):
    """(FVD, KVD (mean, std) or None); an error naming both sets if one is not a number."""
    try:
        value = statistics.fvd(real.moments, fake.moments, FLAGS.covariance == 'unbiased')
        kvd = None
        if FLAGS.kvd:
            kvd = statistics.kvd(
                real.embeddings, fake.embeddings, FLAGS.kvd_subsets, FLAGS.kvd_subset_size
            )
    except ValueError as e:
        raise ValueError(f'--real={FLAGS.real} vs --fake={FLAGS.fake}: {e}') from None
    return value, kvd


def main(argv):
    cli.reject_stray_arguments(argv)
    try:
        real_set, fake_set = _checked_sets()
    except ValueError as e:
        sys.exit(f'error: {e}')
    import tensorflow as tf

    from common import signals
    from measure import embed_run, embedding, statistics

    try:
        embedder = embedding.Embedder(FLAGS.rgb_checkpoint, FLAGS.num_frames, FLAGS.resize)
        options = dict(
            batch_size=FLAGS.batch_size,
            workers=FLAGS.workers,
            keep_embeddings=FLAGS.kvd,
            runner=FLAGS.runner,
            beam_options=FLAGS.beam_options,
            work_dir=FLAGS.work_dir,
        )
        real = embed_run.statistics_of(real_set, embedder, **options)
        if FLAGS.save_stats:
            with signals.deferred():  # a signal: the file and the line saying it was kept
                statistics.save(FLAGS.save_stats, real)
                signals.describe(kept=f'{FLAGS.save_stats} was kept')
            print(f'{FLAGS.save_stats}: statistics of {real.moments.n} videos')
        if fake_set is None:
            return
        fake = embed_run.statistics_of(fake_set, embedder, **options)
        value, kvd = _distances(real, fake, statistics)
    except (ValueError, OSError) as e:
        sys.exit(f'error: {e}')
    except tf.errors.OpError as e:  # e.g. out of memory: name the knob
        sys.exit(f'error: --batch_size={FLAGS.batch_size}: {type(e).__name__}: {e.message}')
    print(f'FVD: {value:.4f}')
    if kvd is not None:
        print(f'KVD: {kvd[0]:.4f} ± {kvd[1]:.4f}')
    print(
        f'({real.moments.n} real, {fake.moments.n} fake videos; {FLAGS.num_frames} frames, '
        f'resize {FLAGS.resize}, covariance {FLAGS.covariance})'
    )


if __name__ == '__main__':
    app.run(main)
