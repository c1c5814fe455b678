"""A pool parent whose workers are slow to import it, as TensorFlow makes build_shards'.

    python tests/slow_entry.py <folder>

Its task function is defined here, so each worker re-imports this script (`__mp_main__`),
and while doing so writes its pid into <folder> and sleeps a minute; the parent waits for
results that never come.
"""

from jobs import pool  # first, as the entry scripts do

# isort: split
import os
import sys
import time

if __name__ == '__mp_main__':  # a spawned worker, still importing its parent's script
    with open(os.path.join(sys.argv[1], str(os.getpid())), 'w'):
        pass
    time.sleep(60)


def square(task):  # defined here, as build_shards' per-video function: workers need main
    return task * task


if __name__ == '__main__':
    from crashy import crashed

    list(pool.ordered_map(square, [1, 2], 2, crashed))
