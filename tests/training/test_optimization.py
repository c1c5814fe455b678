"""training.optimization: the L2 term, the TF1 learning-rate schedule, Adam's epsilon."""

import numpy as np
import pytest

import i3d
import model_io
from training import optimization, options


def test_l2_term_is_half_the_sum_of_squared_conv_kernels():
    model = model_io.build(i3d.InceptionI3d(num_classes=4), 2)
    kernels = optimization.conv_weights(model, model.trainable_variables)
    assert len(kernels) == len(list(model.named_units())) == 58  # 57 units + logits
    assert all(k.name.endswith('/w:0') for k in kernels)  # no biases, no BN offsets
    by_hand = sum(float(np.sum(np.square(k.numpy().astype(np.float64)))) for k in kernels) / 2
    assert float(optimization.l2_term(kernels, 1e-7)) == pytest.approx(1e-7 * by_hand, rel=1e-5)
    w, b = model.logits_variables
    assert optimization.conv_weights(model, [w, b]) == [w]


def test_learning_rate_just_before_and_after_each_boundary():
    config = options.Config('x', 'y', optimizer='sgd', lr_boundaries=(97_000, 108_000))
    schedule = optimization.PiecewiseConstant(*config.schedule())
    # TF1's piecewise_constant: the rate of step 97000 (updates made so far) is still 0.1.
    rates = {s: float(schedule(s)) for s in (0, 97_000, 97_001, 108_000, 108_001, 114_999)}
    assert rates == pytest.approx(
        {0: 0.1, 97_000: 0.1, 97_001: 0.01, 108_000: 0.01, 108_001: 0.001, 114_999: 0.001}
    )
    custom = options.Config('x', 'y', lr_boundaries=(10,), lr_values=(0.5, 0.2))
    assert float(optimization.PiecewiseConstant(*custom.schedule())(10)) == pytest.approx(0.5)
    assert float(optimization.PiecewiseConstant(*custom.schedule())(11)) == pytest.approx(0.2)
    assert float(optimization.PiecewiseConstant((), (3e-4,))(10**6)) == pytest.approx(3e-4)
    with pytest.raises(ValueError, match='needs 2 values'):
        options.Config('x', 'y', lr_boundaries=(10,), lr_values=(0.5,)).schedule()


def test_adam_epsilon_is_tf1s():
    assert optimization.make_optimizer('adam', 1e-3).epsilon == 1e-8
