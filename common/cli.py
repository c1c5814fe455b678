"""What every script's `main` does first: refuse arguments absl did not read as flags.

absl parses `--flag false` (with a space) as `--flag` (True) plus a stray argument `false`:
the bug that made DeepMind's `no_imagenet_*` sample outputs stale. Every `main` calls
`reject_stray_arguments(argv)`, so that such a command stops with one message instead of
running with the opposite setting.
"""

from absl import app


def reject_stray_arguments(argv):
    """Raises absl's UsageError (exit code 1, one message) for positional arguments.

    Args:
      argv: what `app.run` passes to `main`: the program name, then what no flag took.
    """
    if len(argv) > 1:
        raise app.UsageError(
            f'Unexpected arguments: {argv[1:]} (write boolean flags as --flag=false)'
        )
