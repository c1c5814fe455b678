"""Imported by extract_features and fvd.py before TensorFlow: from then on SIGINT and
SIGTERM stop the script with one line and exit code 130/143, also while TensorFlow loads
(`common.signals.exit_on_signals`; nothing happens in a test importing the script).
"""

from common import signals

signals.exit_on_signals()
