"""A pool parent like extract_features: TensorFlow imported at the top, workers that run
only functions of light modules. They must not re-run this script.

    python tests/light_entry.py <folder>

A worker that re-runs this script (`__mp_main__`) writes its pid into <folder>; the
parent prints, as JSON, what each worker imported (`flow_workers.heavy_modules`).
"""

from jobs import pool  # first, as the entry scripts do

# isort: split
import json
import os
import sys

import tensorflow  # noqa: F401  (what a re-run would import again)

if __name__ == '__mp_main__':
    with open(os.path.join(sys.argv[1], str(os.getpid())), 'w'):
        pass

if __name__ == '__main__':
    from crashy import crashed
    from flow_workers import heavy_modules

    from preprocess import flow

    found = pool.ordered_map(heavy_modules, [0, 1], 2, crashed, flow.init_pool_worker, (1,), 2)
    print(json.dumps([result for _, result in found]))
