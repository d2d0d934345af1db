"""Seeding Keras in a keras-torch worker leaves TensorFlow unimported and draws the same weights."""

from __future__ import annotations

import json
import os
import subprocess
import sys

SCRIPT = """
import json, sys
import keras
from parity.runners.seeding import set_keras_seed

def kernel():
    layer = keras.layers.Dense(3)
    layer.build((1, 4))
    return keras.ops.convert_to_numpy(layer.kernel).tolist()

set_keras_seed(7)
ours = kernel()
imported = "tensorflow" in sys.modules
keras.utils.set_random_seed(7)  # Keras' own: imports TensorFlow to seed it as well
print(json.dumps({"imported": imported, "same": ours == kernel(), "tf_after": "tensorflow" in sys.modules}))
"""


def test_seeding_a_torch_backend_keras_skips_tensorflow_and_draws_the_same_weights():
    env = {**os.environ, "KERAS_BACKEND": "torch"}
    result = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, env=env, check=True)
    seen = json.loads(result.stdout.strip().splitlines()[-1])
    assert seen == {"imported": False, "same": True, "tf_after": True}
