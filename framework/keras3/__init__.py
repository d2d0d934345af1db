"""Keras 3 implementations; they run on whichever backend KERAS_BACKEND selects."""
