"""configs/: the training recipes as absl flagfiles, parsed as train_rgb.py / train_flow.py
parse them, valid, and equal to the values README's recipe table states."""

import glob
import os
import re

import pytest
from absl import flags

from common.files import REPO_DIR, repo_path
from preprocess import streams
from training import options

RECIPES = {  # flagfile -> the stream it trains
    'kinetics_rgb.flags': streams.RGB,
    'kinetics_flow.flags': streams.FLOW,
    'finetune.flags': streams.RGB,
    'smoke.flags': streams.RGB,
}


def _config(name, *more):
    values = flags.FlagValues()
    options.define_flags(RECIPES[name], values)
    values(
        [
            'train',
            f'--flagfile={repo_path("configs", name)}',
            '--train_data=x',
            '--model_dir=y',
            *more,
        ]
    )
    config = options.from_flags(['train'], values)
    config.validate()
    return config


def _recipe_table():
    """README's recipe table: {row name: [card, DeepMind Kinetics, fine-tuning]}."""
    with open(os.path.join(REPO_DIR, 'README.md')) as f:
        text = f.read()
    section = text[text.index('### Recipes') :]
    section = section[: section.index('```')]
    rows = {}
    for line in section.splitlines():
        cells = [c.strip() for c in line.strip().strip('|').split('|')]
        if line.startswith('| ') and len(cells) == 4:
            rows[cells[0]] = cells[1:]
    return rows


def _number(pattern, text):
    match = re.search(pattern, text)
    assert match, f'{pattern!r} not in {text!r}'
    return float(match.group(1))


def test_every_flagfile_is_a_tested_recipe_that_the_readme_uses():
    found = {os.path.basename(p) for p in glob.glob(repo_path('configs', '*.flags'))}
    assert found == set(RECIPES)
    with open(os.path.join(REPO_DIR, 'README.md')) as f:
        readme = f.read()
    for name in RECIPES:
        assert f'--flagfile=configs/{name}' in readme


@pytest.mark.parametrize(
    'name, stream_steps', [('kinetics_rgb.flags', 'RGB'), ('kinetics_flow.flags', 'flow')]
)
def test_kinetics_recipes_are_deepmind_schedule_as_the_readme_states(name, stream_steps):
    deepmind = {row: cells[1] for row, cells in _recipe_table().items()}
    config = _config(name)
    assert 'SGD momentum 0.9' in deepmind['optimizer'] and config.optimizer == 'sgd'
    assert config.weight_decay == _number(r'L2 ([\d.e-]+)', deepmind['optimizer'])
    assert config.dropout_keep_prob == _number(r'dropout ([\d.]+)', deepmind['optimizer'])
    schedule = re.search(
        r'([\d.]+) → ([\d.]+) at (\d+)k → ([\d.]+) at (\d+)k', deepmind['schedule']
    ).groups()
    boundaries, values = config.schedule()
    assert boundaries == (int(schedule[2]) * 1000, int(schedule[4]) * 1000)
    assert values == pytest.approx([float(schedule[0]), float(schedule[1]), float(schedule[3])])
    steps = _number(rf'(\d+)k(?: steps)? {stream_steps}', deepmind['schedule'])
    assert config.train_steps == steps * 1000
    assert config.batch_size == _number(r'= (\d+)', deepmind['batch'])
    assert config.strategy == 'multi_worker' and config.seed is not None


def test_finetune_recipe_is_the_papers_as_the_readme_states():
    finetune = {row: cells[2] for row, cells in _recipe_table().items()}
    config = _config('finetune.flags', '--init_checkpoint=checkpoints/rgb_scratch/model')
    assert config.train_steps == _number(r'up to (\d+)k steps', finetune['schedule']) * 1000
    assert config.schedule() == ((), (options.DEFAULT_LR['adam'],))
    assert config.freeze_bn and config.optimizer == 'adam'


def test_smoke_recipe_is_tiny_and_later_flags_override_a_flagfile():
    config = _config('smoke.flags')
    assert config.train_steps <= 5 and config.crop_size <= 64 and config.num_frames <= 16
    assert config.strategy == 'one_device'
    assert _config('smoke.flags', '--train_steps=3').train_steps == 3
