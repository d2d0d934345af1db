"""Comparison: records of one implementation against another, noise floors, layer-by-layer localisation.

``records``   compare two runs (or two arrays) and judge them against a tolerance
``noise``     each implementation's own float32 rounding, measured against its float64 result
``layerwise`` the error per layer, and the first layer where two implementations part
"""
