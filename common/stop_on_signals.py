"""Imported by extract_features and fvd.py before TensorFlow: from then on SIGINT and
SIGTERM stop the script with one line and exit code 130/143, also while TensorFlow loads
(`training.stopping.exit_on_signals`; nothing happens in a test importing the script).
"""

from training import stopping

stopping.exit_on_signals()
