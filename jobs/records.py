"""The manifest record: one JSON line per video of a run, the same for every job.

`{<the video's identity>..., "status": "ok" | "failed", <what else is known>...}`: the
identity is the job's (build_shards: media_id, path, label_index, label; extract_features:
video, path, media_id), a failed video has its `reason`. A worker process that dies on a
video (e.g. a decoder crash) fails it with `CRASHED`, never the run. A manifest is JSON
Lines with sorted keys (`line`, `text`); `read` gives back what was written, so a resumed
run keeps the manifests of an earlier one.
"""

import json

OK = 'ok'
FAILED = 'failed'
CRASHED = 'worker process died (decoder crash?)'


def record(identity, status, **fields):
    """A manifest record: the video's identity (a dict), its status, then `fields`."""
    return dict(identity) | {'status': status} | fields


def failed(identity, reason):
    """The record of a video that could not be processed."""
    return record(identity, FAILED, reason=reason)


def crashed(identity):
    """The record of a video whose worker process died."""
    return failed(identity, CRASHED)


def line(rec):
    """One manifest line: JSON, keys sorted, newline-terminated."""
    return json.dumps(rec, sort_keys=True) + '\n'


def text(recs):
    """The manifest lines of `recs`, in their order."""
    return ''.join(line(r) for r in recs)


def read(lines):
    """The records of manifest lines (an open file or a list of strings); blank lines are
    skipped.

    Raises:
      ValueError: a line that is not JSON.
    """
    return [json.loads(one) for one in lines if one.strip()]
