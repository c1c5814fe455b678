"""weights.deepmind: DeepMind's TF1 checkpoints, mapped one to one against the real variable
indexes of all five released checkpoints (synthetic values)."""

import numpy as np
import pytest
import tf1_checkpoints

import model_io
from weights import assign, deepmind, names


@pytest.mark.slow
@pytest.mark.parametrize('name', names.DEEPMIND_CHECKPOINTS)
def test_deepmind_checkpoints_map_one_to_one(tmp_path, name, shared_path):
    variables = tf1_checkpoints.deepmind_index(shared_path, str(tmp_path), name)
    rng = np.random.default_rng(0)
    arrays = {
        n: rng.standard_normal(s).astype(np.float32) if s else np.float32(3) for n, s in variables
    }
    for n in arrays:
        if n.endswith('moving_variance'):
            arrays[n] = np.abs(arrays[n]) + 0.1
    prefix = str(tmp_path / 'synthetic' / 'model.ckpt')
    tf1_checkpoints.write(prefix, arrays)

    canonical = deepmind.read_checkpoint(prefix)
    model, count = assign.import_arrays(canonical, prefix)
    assert count == 230
    assert model.num_classes == (600 if 'kin600' in name else 400)
    scope = {'rgb': 'RGB/inception_i3d/', 'flo': 'Flow/inception_i3d/'}[name[:3]]
    scope = '' if 'kin600' in name else scope
    unit = model.layers['Mixed_5b'].branches[2].units[1]
    np.testing.assert_array_equal(
        unit.w, arrays[scope + 'Mixed_5b/Branch_2/Conv3d_0a_3x3/conv_3d/w']
    )
    bn = model.layers['Mixed_4e'].branches[1].units[0].batch_norm
    source = scope + 'Mixed_4e/Branch_1/Conv3d_0a_1x1/batch_norm/'
    np.testing.assert_array_equal(bn.offset, arrays[source + 'beta'].reshape(-1))
    np.testing.assert_array_equal(
        bn.moving_variance.value.numpy().reshape(-1), arrays[source + 'moving_variance'].reshape(-1)
    )
    logits = model.layers['Logits'].conv
    np.testing.assert_array_equal(logits.b, arrays[scope + 'Logits/Conv3d_0c_1x1/conv_3d/b'])
    # A round trip through our checkpoint keeps every value.
    out = str(tmp_path / 'ours' / 'model')
    model_io.save(model, out)
    restored, channels = model_io.load(out)
    assert channels == (2 if name.startswith('flow') else 3)
    for a, b in zip(model.variables, restored.variables, strict=True):
        np.testing.assert_array_equal(a, b)


def test_other_checkpoints_are_named_for_what_they_are(tmp_path):
    slim = tf1_checkpoints.write(
        str(tmp_path / 'slim.ckpt'), {'InceptionV1/Conv2d_1a_7x7/weights': np.zeros(3)}
    )
    with pytest.raises(ValueError, match='slim.ckpt: not a DeepMind I3D checkpoint; it is a TF-'):
        deepmind.read_checkpoint(slim)


def test_a_clone_without_checkpoints_is_refused(tmp_path):
    with pytest.raises(ValueError, match='no DeepMind checkpoint under data/checkpoints/'):
        deepmind.convert_dir(str(tmp_path), str(tmp_path / 'out'))
    assert not (tmp_path / 'out').exists()
