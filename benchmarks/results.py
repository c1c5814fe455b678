"""The benchmarks' ratios in one table: each script records its figures, this prints them.

    python -m benchmarks.results          # what `make bench` ends with

Every ratio is measured side by side in one run of one script (numerator and denominator
timed alternately in one process, or in one command), so a busy machine slows both alike.
`record` keeps a script's latest figures in `benchmarks/results/<script>.json` (ignored by
git); the table shows each ratio, its goal, whether it is met, and which script measured
it when. A figure no script has recorded yet says so, with the command that records it.
"""

import dataclasses
import datetime
import json
import os
import platform
import sys

from absl import app

from common import cli
from common.files import REPO_DIR

RESULTS_DIR = os.path.join(REPO_DIR, 'benchmarks', 'results')


@dataclasses.dataclass(frozen=True)
class Ratio:
    """A ratio a benchmark script records, and its goal (none: reported only)."""

    script: str  # benchmarks.<script> records it
    key: str
    what: str
    at_least: float | None = None
    at_most: float | None = None
    per_core: bool = False  # the bound is per core of the machine that measured it

    def goal(self, cores):
        """(text, bound) of the goal on a machine of `cores` cores, or ('', None)."""
        bound = self.at_least if self.at_least is not None else self.at_most
        if bound is None:
            return '', None
        sign = '>=' if self.at_least is not None else '<='
        text = f'{sign} {bound:g}' + (' x cores' if self.per_core else '')
        return text, bound * cores if self.per_core else bound

    def met(self, value, cores):
        _, bound = self.goal(cores)
        if bound is None:
            return None
        return value >= bound if self.at_least is not None else value <= bound


RATIOS = (
    Ratio('train_speed', 'step_over_forward_float32', 'train step / forward, float32', at_most=3.1),
    Ratio('train_speed', 'step_over_forward_bfloat16', 'train step / forward, bfloat16'),
    Ratio('train_speed', 'step_speedup_bfloat16', 'train step float32 / bfloat16', at_least=1.6),
    Ratio('train_speed', 'forward_speedup_bfloat16', 'forward float32 / bfloat16'),
    Ratio(
        'extract_speed',
        'rgb_extract_over_model',
        'extract_features --streams=rgb, per added clip / bare model',
        at_least=0.85,
    ),
    Ratio(
        'extract_speed',
        'rgb_extract_whole_command_over_model',
        'same, the whole command (start-up included) / bare model',
    ),
    Ratio(
        'extract_speed',
        'flow_cores_busy',
        'cores busy: extract_features --streams=rgb,flow, one video',
        at_least=0.9,
        per_core=True,
    ),
    Ratio(
        'model_speed', 'sonnet_over_plain_ops', 'forward: Sonnet model / plain TF ops', at_most=1.1
    ),
    Ratio('kernel_speed', 'eigen_over_onednn_step', 'train step: Eigen kernels / oneDNN kernels'),
)


def cpu():
    """The CPU's model name and the vector extensions TensorFlow's kernels care about."""
    try:
        with open('/proc/cpuinfo', encoding='utf-8') as f:
            info = f.read()
    except OSError:
        return platform.processor() or platform.machine()
    name = next(
        (
            line.split(':', 1)[1].strip()
            for line in info.splitlines()
            if line.startswith('model name')
        ),
        platform.machine(),
    )
    flags = next(
        (line.split(':', 1)[1].split() for line in info.splitlines() if line.startswith('flags')),
        [],
    )
    wanted = ('avx2', 'avx512f', 'avx512_bf16', 'amx_bf16')
    return f'{name} ({", ".join(f for f in wanted if f in flags) or "no AVX2"})'


def record(script, figures):
    """Keeps `figures` ({key: number}) as the latest of benchmarks.`script`."""
    os.makedirs(RESULTS_DIR, exist_ok=True)
    data = {
        'figures': figures,
        'when': datetime.datetime.now().isoformat(timespec='seconds'),
        'cores': os.cpu_count(),
        'machine': cpu(),
        'command': ' '.join([f'python -m benchmarks.{script}', *sys.argv[1:]]),
    }
    path = os.path.join(RESULTS_DIR, f'{script}.json')
    with open(path, 'w', encoding='utf-8') as f:
        json.dump(data, f, indent=1, sort_keys=True)


def load(script):
    """The latest figures recorded by benchmarks.`script`, or None."""
    path = os.path.join(RESULTS_DIR, f'{script}.json')
    try:
        with open(path, encoding='utf-8') as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def table():
    """The table's lines."""
    lines = [f'{"ratio":62s} {"value":>6s} {"goal":>14s} {"met":>4s}  measured by']
    for ratio in RATIOS:
        found = load(ratio.script)
        value = None if found is None else found['figures'].get(ratio.key)
        cores = os.cpu_count() if found is None else found['cores']
        goal, _ = ratio.goal(cores)
        if value is None:
            where = f'not yet: python -m benchmarks.{ratio.script}'
            lines.append(f'{ratio.what:62s} {"-":>6s} {goal:>14s} {"-":>4s}  {where}')
            continue
        met = ratio.met(value, cores)
        mark = '' if met is None else ('yes' if met else 'NO')
        where = f'{found["command"]} ({found["when"]}, {cores} cores, {found["machine"]})'
        lines.append(f'{ratio.what:62s} {value:6.2f} {goal:>14s} {mark:>4s}  {where}')
    return lines


def main(argv):
    cli.reject_stray_arguments(argv)
    print('\n'.join(table()))


if __name__ == '__main__':
    app.run(main)
