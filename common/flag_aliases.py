"""Old spellings of renamed flags, kept as deprecated aliases.

A flag name means one thing across the scripts; a flag renamed for that keeps its old
spelling for a while:

    flag_aliases.define('num_frames', 'max_frames')   # after --max_frames is defined
    ...
    def main(argv):
        cli.reject_stray_arguments(argv)
        try:
            flag_aliases.apply()                          # first, inside the `error:` try
            ...

`--num_frames=N` then parses exactly as `--max_frames=N` would (same type and bounds) and
behaves identically, with one line on stderr, `warning: --num_frames is deprecated; use
--max_frames`. Both spellings with different values are a ValueError (the script's one
`error:` line); with the same value, only the warning. No TensorFlow here.
"""

import sys

from absl import flags


class _DeprecatedAlias(flags.Flag):
    """An old spelling: parses like the flag it names, holds its value until `apply`."""

    def __init__(self, name, target):
        super().__init__(
            target.parser,
            target.serializer,
            name,
            None,
            f'Deprecated spelling of --{target.name} (same meaning and values).',
            boolean=target.boolean,
        )
        self.new_name = target.name


def define(old, new, flag_values=flags.FLAGS):
    """Defines `--old` as a deprecated spelling of the already defined `--new`, owned by
    the module that defined `--new` (listed with its flags in --help)."""
    target = flag_values[new]
    if isinstance(target, flags.MultiFlag):
        raise TypeError(f'--{new}: a repeatable flag cannot have an alias')
    module = flag_values.find_module_defining_flag(new)
    flags.DEFINE_flag(_DeprecatedAlias(old, target), flag_values, module_name=module)


def apply(flag_values=flags.FLAGS, stderr=None):
    """Moves each deprecated spelling given on the command line to its new flag, writing
    one warning line for it to `stderr` (default: sys.stderr).

    Raises:
      ValueError: both spellings of one flag were given, with different values.
    """
    stderr = stderr or sys.stderr
    for name in sorted(flag_values):
        alias = flag_values[name]
        if not isinstance(alias, _DeprecatedAlias) or name != alias.name or not alias.present:
            continue
        target = flag_values[alias.new_name]
        if target.present and target.value != alias.value:
            raise ValueError(
                f'--{alias.name}={_shown(alias)} and --{target.name}={_shown(target)}: one '
                f'flag, two values (--{alias.name} is the deprecated spelling of '
                f'--{target.name}; give one)'
            )
        print(f'warning: --{alias.name} is deprecated; use --{target.name}', file=stderr)
        target.value = alias.value
        target.present = target.present or alias.present
        alias.present = 0  # applied: a second call neither warns nor moves it again


def _shown(flag):
    """The flag's value as written on a command line."""
    return flag.serializer.serialize(flag.value) if flag.serializer else str(flag.value)
