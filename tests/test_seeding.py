"""A keras-torch worker leaves the packages it never uses unimported: seeding, building, importing Keras."""

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


BIDIRECTIONAL_SCRIPT = """
import json, sys
import keras
from keras.src.utils import module_utils
from parity.layers import REGISTRY

kind = REGISTRY["bidirectional"]
config = kind.configure({"layer": "lstm", "units": 3, "return_sequences": True, "use_bias": True})
layer = kind.keras.build(config, "bidi")
imported = "tensorflow" in sys.modules
asked_again = module_utils.tensorflow._available is None
print(json.dumps({"imported": imported, "asked_again": asked_again, "wrapped": type(layer.backward_layer).__name__}))
"""


def test_building_a_bidirectional_layer_off_tensorflow_leaves_tensorflow_unimported():
    # keras.layers.Bidirectional serialises the layer it wraps, and Keras' serialiser imports
    # TensorFlow to ask whether an argument is one of its types (parity.layers.base.tensorflow_left_unimported).
    env = {**os.environ, "KERAS_BACKEND": "torch"}
    result = subprocess.run([sys.executable, "-c", BIDIRECTIONAL_SCRIPT], capture_output=True, text=True, env=env, check=True)
    seen = json.loads(result.stdout.strip().splitlines()[-1])
    assert seen == {"imported": False, "asked_again": True, "wrapped": "LSTM"}


IMPORT_SCRIPT = """
import importlib, json, sys
from parity.runners.worker import import_keras

unused = ("sklearn", "jax", "matplotlib")  # a keras-torch worker calls nothing that needs them
import_keras("torch")
loaded = sorted(name for name in unused if name in sys.modules)
importable = all(importlib.import_module(name) is not None for name in unused)
print(json.dumps({"loaded": loaded, "importable": importable}))
"""


def test_a_worker_imports_keras_without_the_optional_packages_and_leaves_them_importable():
    env = {**os.environ, "KERAS_BACKEND": "torch"}
    result = subprocess.run([sys.executable, "-c", IMPORT_SCRIPT], capture_output=True, text=True, env=env, check=True)
    seen = json.loads(result.stdout.strip().splitlines()[-1])
    assert seen == {"loaded": [], "importable": True}
