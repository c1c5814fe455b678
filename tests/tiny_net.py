"""The smallest network the zoo's seam allows (zoo.py): two convolutions and a pool, and
a global-average classifier. Registered by tests/test_zoo.py to show that a network is one
file plus one `zoo.register` line: nothing else in the project names it.

    Conv_1 (3x3x3, stride 2) -> Pool_2 (2x2x2 max, stride 2) -> Conv_3 (3x3x3) -> Logits

Its head differs from I3D's on purpose: the mean over every time step and position (not a
[2, 7, 7] pool), so that the seam's `time_weights`/`classifier_input` are exercised.
"""

import sonnet as snt
import tensorflow as tf

import zoo
from i3d import Unit3D
from layers import pooling

NAME = 'tiny_test_net'
FEATURE_ENDPOINTS = ('Conv_1', 'Pool_2', 'Conv_3')
TEMPORAL = {'Conv_1': (3, 2), 'Pool_2': (2, 2), 'Conv_3': (3, 1)}  # (kernel, stride) in time


class TinyNet(snt.Module):
    VALID_ENDPOINTS = (*FEATURE_ENDPOINTS, 'Logits', 'Predictions')
    FEATURE_ENDPOINT = 'Conv_3'
    LOGITS_ENDPOINT = 'Logits'
    FIRST_KERNEL_KEY = 'layers/Conv_1/w'
    LOGITS_KERNEL_KEY = 'layers/Logits/w'

    def __init__(
        self,
        num_classes=400,
        final_endpoint='Logits',
        compute_dtype=tf.float32,
        sync_batch_norm=False,
        name='tiny_net',
    ):
        if final_endpoint not in self.VALID_ENDPOINTS:
            raise ValueError(f'Unknown final endpoint {final_endpoint!r}')
        super().__init__(name=name)
        self._num_classes = num_classes
        self._final_endpoint = final_endpoint
        self._compute_dtype = tf.as_dtype(compute_dtype)
        self._sync_batch_norm = sync_batch_norm
        sync = {'sync_batch_norm': sync_batch_norm}
        every = {
            'Conv_1': Unit3D(8, (3, 3, 3), (2, 2, 2), name='Conv_1', **sync),
            'Conv_3': Unit3D(16, (3, 3, 3), name='Conv_3', **sync),
            'Logits': Unit3D(
                num_classes, activation_fn=None, use_batch_norm=False, use_bias=True, name='Logits'
            ),
        }
        built = self.VALID_ENDPOINTS[: self.VALID_ENDPOINTS.index(final_endpoint) + 1]
        self.layers = {k: v for k, v in every.items() if k in built}
        self._endpoints = built

    @staticmethod
    def temporal_layers(endpoint):
        for name in FEATURE_ENDPOINTS[: FEATURE_ENDPOINTS.index(endpoint) + 1]:
            yield TEMPORAL[name]

    @staticmethod
    def time_weights(steps):
        return tf.fill([steps], 1.0 / tf.cast(steps, tf.float32))

    @staticmethod
    def classifier_input(features, time_weights=None):
        x = tf.cast(features, tf.float32)
        shape = tf.shape(x)
        if time_weights is None:
            time_weights = TinyNet.time_weights(shape[1])
        area = tf.cast(shape[2] * shape[3], tf.float32)
        return tf.einsum('nthwc,t->nc', x, time_weights) / area

    @property
    def num_classes(self):
        return self._num_classes

    @property
    def final_endpoint(self):
        return self._final_endpoint

    @property
    def compute_dtype(self):
        return self._compute_dtype

    @property
    def sync_batch_norm(self):
        return self._sync_batch_norm

    @property
    def input_channels(self):
        return self.layers['Conv_1'].w.shape[3]

    @property
    def logits_variables(self):
        conv = self.layers['Logits']
        return conv.w, conv.b

    @property
    def batch_norms(self):
        return tuple(u.batch_norm for _, u in self.named_units() if u.batch_norm is not None)

    def named_units(self):
        yield from self.layers.items()

    def __call__(
        self,
        inputs,
        is_training,
        dropout_keep_prob=1.0,
        *,
        freeze_batch_norm=False,
        test_local_stats=False,
        batch_norm_moments=None,
        dropout_seed=None,
    ):
        bn = (is_training and not freeze_batch_norm, test_local_stats, batch_norm_moments)
        net = tf.cast(inputs, self._compute_dtype)
        end_points = {}
        for endpoint in self._endpoints:
            if endpoint == 'Pool_2':
                net = pooling.max_pool(net, (2, 2, 2), (2, 2, 2))
            elif endpoint == 'Logits':
                pooled = self.classifier_input(net)[:, None, None, None, :]
                if is_training and dropout_keep_prob < 1.0 and dropout_seed is not None:
                    pooled = tf.nn.experimental.stateless_dropout(
                        pooled, rate=1.0 - dropout_keep_prob, seed=dropout_seed
                    )
                logits = self.layers['Logits'](tf.cast(pooled, net.dtype), *bn)
                net = tf.cast(logits[:, 0, 0, 0], tf.float32)
            elif endpoint == 'Predictions':
                net = tf.nn.softmax(net)
            else:
                net = self.layers[endpoint](net, *bn)
            end_points[endpoint] = net
        return net, end_points


def register():
    """Adds the network to the zoo (the one line a real network has in zoo.py)."""
    return zoo.register(
        zoo.Network(name=NAME, module=__name__, cls='TinyNet', sampling=zoo.PAPER_SAMPLING)
    )
