"""Devices, the distribution strategy and this worker's place in it.

MultiWorkerMirroredStrategy must be created before any other TensorFlow op runs, and
logical CPU devices split before TensorFlow uses any device: `loop.run` calls these
first.
"""

import json
import os

import tensorflow as tf


def setup_devices(cpu_replicas):
    """Splits the CPU into `cpu_replicas` logical devices (before TF uses any device)."""
    if cpu_replicas > 1:
        cpu = tf.config.list_physical_devices('CPU')[0]
        tf.config.set_logical_device_configuration(
            cpu, [tf.config.LogicalDeviceConfiguration()] * cpu_replicas
        )


def check_tf_config():
    """Refuses a malformed TF_CONFIG in one line naming it (TensorFlow's error does not).

    Raises:
      ValueError: not JSON, or without the cluster / task of MultiWorkerMirroredStrategy.
    """
    text = os.environ.get('TF_CONFIG')
    if not text:
        raise ValueError('TF_CONFIG: not set (--strategy=multi_worker reads the cluster from it)')
    try:
        config = json.loads(text)
    except ValueError as e:
        raise ValueError(f'TF_CONFIG: not valid JSON ({e})') from None
    if not isinstance(config, dict) or not isinstance(config.get('cluster'), dict):
        raise ValueError('TF_CONFIG: no "cluster" object')
    task = config.get('task')
    if not isinstance(task, dict) or 'type' not in task:
        raise ValueError('TF_CONFIG: no "task" object with a "type" and an "index"')
    hosts = config['cluster'].get(task['type'])
    index = task.get('index', 0)
    if not isinstance(hosts, list) or not isinstance(index, int) or not 0 <= index < len(hosts):
        raise ValueError(
            f'TF_CONFIG: task {task.get("type")!r} index {index!r} is not in the cluster '
            f'{json.dumps(config["cluster"])}'
        )


def setup_determinism():
    """Deterministic kernels (TensorFlow's op determinism), before any op runs.

    On CPU this pins the few kernels that may reduce in a thread-dependent order and
    tf.data's ordering; on GPU it selects cuDNN's deterministic algorithms and makes
    ops without a deterministic kernel raise instead of drifting.
    """
    tf.config.experimental.enable_op_determinism()


def make_strategy(name):
    """mirrored: all local GPUs, else all logical CPUs; multi_worker: TF_CONFIG hosts."""
    if name == 'multi_worker':  # before anything initializes the devices
        check_tf_config()
        return tf.distribute.MultiWorkerMirroredStrategy()
    gpus = tf.config.list_logical_devices('GPU')
    if name == 'one_device':
        return tf.distribute.OneDeviceStrategy((gpus or tf.config.list_logical_devices('CPU'))[0])
    devices = [d.name for d in gpus or tf.config.list_logical_devices('CPU')]
    return tf.distribute.MirroredStrategy(devices)


def worker_info(strategy):
    """(worker index, number of workers, is chief)."""
    resolver = getattr(strategy, 'cluster_resolver', None)
    if resolver is None or not resolver.cluster_spec().as_dict():
        return 0, 1, True
    spec = resolver.cluster_spec().as_dict()
    workers = len(spec.get('worker', [])) + len(spec.get('chief', []))
    task_type, task_id = resolver.task_type, resolver.task_id or 0
    index = task_id + (1 if task_type == 'worker' and 'chief' in spec else 0)
    chief = task_type == 'chief' or (task_type == 'worker' and task_id == 0 and 'chief' not in spec)
    return index, workers, chief


def start(config):
    """The strategy of a run, made before any other TensorFlow op runs.

    Op determinism and logical CPU devices must be set before TensorFlow initializes
    its devices, and MultiWorkerMirroredStrategy before any collective.
    """
    if config.deterministic:
        setup_determinism()
    setup_devices(config.cpu_replicas)
    return make_strategy(config.strategy)
