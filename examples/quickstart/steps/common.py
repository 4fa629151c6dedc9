"""Helpers shared by the quickstart steps: data files and step metadata."""
import json
import os

import numpy as np


def save_arrays(path, **arrays):
    # Write through a file object so numpy does not append ".npz" to baton's output path.
    with open(path, "wb") as f:
        np.savez_compressed(f, **arrays)


def load_arrays(path):
    with np.load(path) as data:
        return {k: data[k] for k in data.files}


def log_metadata(**values):
    """Record metrics for `baton runs show` through the file baton names in $BATON_METADATA."""
    path = os.environ.get("BATON_METADATA")
    if not path:
        return
    current = {}
    if os.path.exists(path):
        with open(path) as f:
            current = json.load(f)
    current.update(values)
    with open(path, "w") as f:
        json.dump(current, f)
