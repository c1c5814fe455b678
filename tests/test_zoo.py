"""The zoo (zoo.py): what it says of I3D, and the seam every other part uses.

The seam test registers tests/tiny_net.py, a network nothing in the project names, and runs
it through training, evaluate_sample (whole video and Grad-CAM), whole-video inference,
feature extraction and the SavedModel export: a network is one file plus one registry line.
"""

import os

import cli
import numpy as np
import pytest
import tiny_net
from runs import TINY
from videos import write_video

import zoo
from common import label_map
from common.files import REPO_DIR
from preprocess import video


def test_i3d_entry_names_deepminds_checkpoints_and_label_maps():
    entry = zoo.get('i3d')
    assert zoo.names()[0] == 'i3d'
    assert [r.name for r in entry.released] == [
        'rgb_scratch',
        'flow_scratch',
        'rgb_imagenet',
        'flow_imagenet',
        'rgb_scratch_kin600',
    ]
    assert len(label_map.read(os.path.join(REPO_DIR, entry.label_maps[400]))) == 400
    assert zoo.install_command('rgb_scratch', 'x/model').startswith('make weights')
    assert '--deepmind_checkpoint=<kinetics-i3d clone>/data/checkpoints/flow_imagenet/' in (
        zoo.install_command('flow_imagenet', 'x/model')
    )
    assert zoo.released('nothing') == (None, None)


def test_paper_sampling_is_what_the_video_layer_and_training_use():
    from training import options

    sampling = zoo.get('i3d').sampling
    assert sampling == zoo.Sampling(25.0, 256, 224, 64, 250)  # the paper's (Sec. 3.1, 4)
    assert sampling.fps == video.FPS
    assert sampling.short_side == video.SHORT_SIDE
    assert sampling.crop == video.CROP_SIZE == options.PAPER_CROP
    assert sampling.test_frames == video.MAX_TEST_FRAMES
    assert sampling.train_frames == options.PAPER_FRAMES


def test_lookups_fail_in_one_line_and_the_class_is_imported_by_name():
    import i3d

    with pytest.raises(ValueError, match=r"unknown network 'nope' \(known: i3d"):
        zoo.get('nope')
    with pytest.raises(ValueError, match='already registered'):
        zoo.register(zoo.get('i3d'))
    assert zoo.network_class('i3d') is i3d.InceptionI3d
    assert zoo.name_of(i3d.InceptionI3d) == 'i3d'
    with pytest.raises(ValueError, match='not a network of the zoo'):
        zoo.name_of(dict)


def test_only_the_network_file_reads_its_layer_tables():
    """No module outside I3D's own files reads its layer tables or spells its endpoints.

    I3D's files: i3d.py, and its weight conversion (DeepMind's variable names).
    benchmarks/model_speed.py is left out on purpose: it times I3D as bare TensorFlow ops
    against the Sonnet module, layer by layer from i3d.py's tables.
    """
    needles = ('STEM_CONVS', 'MIXED_CHANNELS', 'POOLS', "'Mixed_5c'", "'Conv3d_1a_7x7'")
    offenders = []
    for folder, dirs, names in os.walk(REPO_DIR):
        dirs[:] = [d for d in dirs if not d.startswith('.') and d != 'tests']
        for name in names:
            path = os.path.join(folder, name)
            rel = os.path.relpath(path, REPO_DIR)
            own = ('i3d.py', 'import_weights.py', 'benchmarks/model_speed.py')
            if not name.endswith('.py') or rel in own or rel.startswith('weights/'):
                continue
            with open(path) as f:
                text = f.read()
            offenders += [f'{rel}: {n}' for n in needles if n in text]
    assert not offenders


@pytest.fixture(scope='module')
def tiny():
    tiny_net.register()
    yield tiny_net.TinyNet
    zoo.unregister(tiny_net.NAME)


@pytest.fixture(scope='module')
def tiny_run(tiny, motion_shards, tmp_path_factory):
    """A 2-step training run of the tiny network on the motion shards."""
    model_dir = tmp_path_factory.mktemp('tiny_run')
    cli.check(
        'train_rgb',
        f'--network={tiny_net.NAME}',
        f'--train_data={motion_shards}/train-*.tfrecord',
        f'--model_dir={model_dir}',
        '--strategy=one_device',
        '--train_steps=2',
        *TINY,
    )
    return model_dir


@pytest.fixture(scope='module')
def clip_folder(tmp_path_factory):
    """One 50-frame video (several of the tiny network's 20-frame chunks)."""
    root = tmp_path_factory.mktemp('tiny_videos')
    rng = np.random.default_rng(3)
    write_video(root / 'long.avi', 25, rng.integers(0, 255, (50, 48, 64, 3), np.uint8))
    return root


def _clip(path):
    """The network input evaluate_sample.py makes of a whole video: [1, T, 224, 224, 3]."""
    from preprocess import clip_input

    inputs, _ = clip_input.clip_inputs(str(path), ['rgb'], None, None, None)
    _, frames = inputs['rgb']
    return np.stack(list(frames))[None]


@pytest.mark.slow
def test_a_registered_network_trains_under_its_name(tiny, tiny_run, motion_shards, rgb_weights):
    import model_io

    prefix = model_io.resolve(str(tiny_run))
    spec = model_io.read_spec(prefix)
    assert spec.network is tiny and spec.in_channels == 3 and spec.num_classes == 3
    assert model_io.read_settings(str(tiny_run))['network'] == tiny_net.NAME
    model, _ = model_io.load(prefix)
    assert isinstance(model, tiny)
    # Fine-tuning another network's checkpoint into it is refused, not skipped silently.
    result = cli.run(
        'train_rgb',
        f'--network={tiny_net.NAME}',
        f'--train_data={motion_shards}/train-*.tfrecord',
        f'--model_dir={tiny_run}_other',
        f'--init_checkpoint={rgb_weights}',
        '--strategy=one_device',
        '--train_steps=1',
        *TINY,
    )
    assert result.returncode == 1
    assert f'a checkpoint of i3d, not of {tiny_net.NAME} (--network)' in result.stderr
    result = cli.run('train_rgb', '--network=nope', '--train_data=x', '--model_dir=y')
    assert result.returncode == 1 and '--network=nope: not in zoo.py (i3d, ' in result.stderr


@pytest.mark.slow
def test_whole_video_inference_of_a_registered_network_is_exact(tiny, tiny_run, clip_folder):
    import tensorflow as tf

    import model_io
    from inference import whole_video

    model, _ = model_io.load(str(tiny_run))
    clip = _clip(clip_folder / 'long.avi')
    logits, points = model(tf.constant(clip), is_training=False)
    geo = whole_video.geometry(model)
    assert geo.min_chunk_frames < clip.shape[1]
    runner = whole_video.Runner(model, chunk_frames=geo.min_chunk_frames)
    assert len(whole_video.plan_chunks(clip.shape[1], geo.min_chunk_frames, geo)) > 1
    result = runner(iter(clip[0]), clip.shape[1])
    np.testing.assert_allclose(result.steps, points['Conv_3'][0].numpy().mean(axis=(1, 2)), 1e-5)
    np.testing.assert_allclose(result.logits, logits[0].numpy(), rtol=1e-5, atol=1e-5)


@pytest.mark.slow
def test_evaluate_sample_classifies_and_explains_with_a_registered_network(
    tiny, tiny_run, clip_folder, tmp_path
):
    import tensorflow as tf

    import model_io

    video_path = clip_folder / 'long.avi'
    gif = tmp_path / 'cam.gif'
    out = cli.check(
        'evaluate_sample',
        f'--checkpoint={tiny_run}',
        f'--video={video_path}',
        '--max_frames=0',
        '--top_k=3',
        f'--explain={gif}',
    ).stdout
    model, _ = model_io.load(str(tiny_run))
    logits = model(tf.constant(_clip(video_path)), is_training=False)[0][0].numpy()
    printed = out.splitlines()
    assert printed[0] == f'Norm of logits: {np.linalg.norm(logits):f}'
    names = model_io.recorded_class_names(model_io.resolve(str(tiny_run)))[0]
    top = printed[3].split()
    assert top[2] == names[int(np.argmax(logits))]
    np.testing.assert_allclose(float(top[1]), logits.max(), rtol=1e-5)
    assert gif.stat().st_size > 0
    bad = cli.run(
        'evaluate_sample',
        f'--checkpoint={tiny_run}',
        f'--video={video_path}',
        f'--explain={tmp_path / "b.gif"}',
        '--explain_endpoint=Mixed_5c',
    )
    assert bad.returncode == 1 and "--explain_endpoint: 'Mixed_5c' is not one of Conv_1" in (
        bad.stderr
    )


@pytest.mark.slow
def test_extraction_and_export_of_a_registered_network(tiny, tiny_run, clip_folder, tmp_path):
    import tensorflow as tf

    import model_io
    from inference import whole_video

    model, _ = model_io.load(str(tiny_run))
    least = whole_video.geometry(model).min_chunk_frames
    out_dir = tmp_path / 'features'
    cli.check(
        'extract_features',
        f'--input={clip_folder}',
        f'--output_dir={out_dir}',
        f'--rgb_checkpoint={tiny_run}',
        '--window=0',
        f'--chunk_frames={least}',
        '--workers=1',
    )
    clip = _clip(clip_folder / 'long.avi')
    want = model.classifier_input(model(tf.constant(clip), is_training=False)[1]['Conv_3'])
    features = np.load(out_dir / 'long_rgb.npy')
    assert features.shape == (1, 16)
    np.testing.assert_allclose(features[0], want[0].numpy(), rtol=1e-4, atol=1e-6)
    bad = cli.run(
        'extract_features',
        f'--input={clip_folder}',
        f'--output_dir={tmp_path / "bad"}',
        f'--rgb_checkpoint={tiny_run}',
        '--endpoint=Mixed_4f',
    )
    assert bad.returncode == 1
    assert f'--endpoint=Mixed_4f: not an endpoint of {tiny_net.NAME}' in bad.stderr

    saved = tmp_path / 'saved'
    cli.check(
        'export_saved_model',
        f'--rgb_checkpoint={tiny_run}',
        f'--output={saved}',
        f'--chunk_frames={least}',
    )
    loaded = tf.saved_model.load(str(saved))
    result = loaded.signatures['rgb'](rgb=tf.constant(clip))
    logits = model(tf.constant(clip), is_training=False)[0].numpy()
    np.testing.assert_allclose(result['logits'].numpy(), logits, rtol=1e-5, atol=1e-5)


@pytest.mark.slow
def test_fvd_refuses_another_networks_checkpoint(tiny, tiny_run):
    from measure import embedding

    with pytest.raises(ValueError, match=f'a checkpoint of {tiny_net.NAME}; FVD is defined'):
        embedding.Embedder(str(tiny_run))
