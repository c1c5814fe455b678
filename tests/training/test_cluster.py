"""training.cluster: a malformed TF_CONFIG is named in one line."""

import pytest

from training import cluster


@pytest.mark.parametrize(
    'value, message',
    [
        ("{'cluster': 1}", 'TF_CONFIG: not valid JSON'),
        ('{"task": {"type": "worker", "index": 0}}', 'TF_CONFIG: no "cluster"'),
        (
            '{"cluster": {"worker": ["localhost:1"]}, "task": {"type": "worker", "index": 3}}',
            'TF_CONFIG: task .worker. index 3 is not in the cluster',
        ),
    ],
)
def test_malformed_tf_config_is_named(monkeypatch, value, message):
    monkeypatch.setenv('TF_CONFIG', value)
    with pytest.raises(ValueError, match=message):
        cluster.check_tf_config()
