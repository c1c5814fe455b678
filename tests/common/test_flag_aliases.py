"""common/flag_aliases.py: a renamed flag's old spelling parses like the new one, warns once,
and clashes with a different value of the new one."""

import io
import subprocess
import sys

import pytest
from absl import flags

from common import flag_aliases
from common.files import REPO_DIR


def _flags():
    values = flags.FlagValues()
    flags.DEFINE_integer('max_frames', 250, 'Cap.', lower_bound=0, flag_values=values)
    flags.DEFINE_bool('flip', False, 'Flip.', flag_values=values)
    flag_aliases.define('num_frames', 'max_frames', values)
    flag_aliases.define('mirror', 'flip', values)
    return values


def _parse(*args):
    """(flag values, what `apply` wrote) after parsing `args`."""
    values = _flags()
    values(['prog', *args])
    err = io.StringIO()
    flag_aliases.apply(values, err)
    return values, err.getvalue()


def test_old_spelling_sets_the_new_flag_with_one_warning():
    values, err = _parse('--num_frames=0')
    assert (values.max_frames, values['max_frames'].present) == (0, 1)
    assert err == 'warning: --num_frames is deprecated; use --max_frames\n'
    second = io.StringIO()
    flag_aliases.apply(values, second)  # applied once: no second warning
    assert second.getvalue() == '' and values.max_frames == 0


def test_boolean_aliases_take_both_forms():
    assert _parse('--mirror')[0].flip is True
    values, err = _parse('--nomirror')
    assert values.flip is False and values['flip'].present
    assert err == 'warning: --mirror is deprecated; use --flip\n'


def test_new_spelling_alone_or_nothing_is_silent():
    values, err = _parse('--max_frames=7')
    assert (values.max_frames, err) == (7, '')
    values, err = _parse()
    assert (values.max_frames, values['max_frames'].present, err) == (250, 0, '')


def test_both_spellings_agree_or_clash():
    values, err = _parse('--num_frames=9', '--max_frames=9')
    assert values.max_frames == 9 and err.count('\n') == 1
    values = _flags()
    values(['prog', '--num_frames=9', '--max_frames=10'])
    err = io.StringIO()
    with pytest.raises(ValueError) as info:
        flag_aliases.apply(values, err)
    assert str(info.value) == (
        '--num_frames=9 and --max_frames=10: one flag, two values (--num_frames is the '
        'deprecated spelling of --max_frames; give one)'
    )
    assert err.getvalue() == ''


def test_old_spelling_keeps_the_bounds_and_the_owner():
    values = _flags()
    with pytest.raises(flags.IllegalFlagValueError, match='num_frames'):
        values(['prog', '--num_frames=-1'])
    assert values.find_module_defining_flag('num_frames') == values.find_module_defining_flag(
        'max_frames'
    )
    assert 'Deprecated spelling of --max_frames' in values['num_frames'].help
    with pytest.raises(TypeError, match='repeatable'):
        flags.DEFINE_multi_string('tag', [], 'Tags.', flag_values=values)
        flag_aliases.define('label', 'tag', values)


def test_no_tensorflow():
    code = 'import sys, common.flag_aliases; print("tensorflow" in sys.modules)'
    result = subprocess.run(
        [sys.executable, '-c', code], cwd=REPO_DIR, capture_output=True, text=True
    )
    assert result.stdout == 'False\n', result.stderr
