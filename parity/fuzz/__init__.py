"""`parity fuzz`: random models from the registry, judged against the float64 scratch oracle.

A campaign draws models (``draw``: chains and residual graphs of registered kinds, random
configurations, inputs at magnitudes 1e-3..1e3, a random loss), runs each on the chosen
implementations with every conversion rule applied (``judge``), shrinks each new
disagreement to the smallest model that still shows it (``shrink``, with hypothesis'
engine), and writes the findings (``campaign``).
"""
