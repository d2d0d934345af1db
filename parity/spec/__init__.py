"""Model specs: a model as data (``model``), read from real PyTorch and Keras models
(``torch_import``, ``keras_import``) and generated back into scratch, torch and Keras (``generate``)."""
