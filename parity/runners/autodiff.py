"""Reverse-mode gradients of one Keras computation, on whichever backend runs it.

Keras 3 has no backend-neutral gradient API; each backend's own is the documented
way (Keras guides "Writing a training loop from scratch in JAX / TensorFlow / PyTorch").
``two_gradients``: ``fn(args)`` returns ``(l1, l2, aux)``, two scalars and anything else. The
forward pass runs once; both gradients are taken from it, so a stateful layer (running
statistics in training mode) is not updated twice. ``gradient``: one scalar, for a caller
that needs no second one: no second set of gradients (as large as the weights) is made, and
torch frees its graph as its backward pass goes (no ``retain_graph``).
"""

from __future__ import annotations

from collections.abc import Callable


def two_gradients(backend: str, fn: Callable, args: list, constants: list | None = None):
    """Return (l1, l2, aux, dl1/dargs, dl2/dargs); unconnected arguments get None.

    With ``constants``, ``fn(args, constants)``: arrays the computation reads but is not
    differentiated by. On JAX they are arguments of the compiled program, where what ``fn`` closes
    over is written into it as constants: the program, and so its key in JAX's persistent
    compilation cache (``parity.runners.pool.jax_compilation_cache``), does not change with them.
    """
    if constants is None:
        alone = fn
        fn, constants = (lambda a, _c: alone(a)), []
    if backend == "jax":
        import jax
        import jax.numpy as jnp

        def both(a, c):
            def scalars(d):
                l1, l2, aux = fn(d, c)
                return (l1, l2), aux

            (l1, l2), vjp, aux = jax.vjp(scalars, a, has_aux=True)
            (g1,) = vjp((jnp.ones_like(l1), jnp.zeros_like(l2)))
            (g2,) = vjp((jnp.zeros_like(l1), jnp.ones_like(l2)))
            return l1, l2, aux, list(g1), list(g2)

        # One jit for the forward pass and both gradients: run eagerly, JAX lowers every
        # new (operation, shape, dtype) to its own XLA module, which was most of a report's
        # time on this backend; compiled once, the computation is one module (a fresh one
        # per call: ``fn`` closes over this model and its weights).
        return jax.jit(both)(args, constants)
    if backend == "tensorflow":
        import tensorflow as tf

        with tf.GradientTape(persistent=True) as tape:
            tape.watch(args)
            l1, l2, aux = fn(args, constants)
        g1 = tape.gradient(l1, args, unconnected_gradients=tf.UnconnectedGradients.NONE)
        g2 = tape.gradient(l2, args, unconnected_gradients=tf.UnconnectedGradients.NONE)
        return l1, l2, aux, list(g1), list(g2)
    if backend == "torch":
        import torch

        args = [a.detach().requires_grad_(True) for a in args]
        l1, l2, aux = fn(args, constants)
        g1 = torch.autograd.grad(l1, args, retain_graph=True, allow_unused=True)
        g2 = torch.autograd.grad(l2, args, allow_unused=True)
        return l1, l2, aux, list(g1), list(g2)
    raise ValueError(f"unknown Keras backend {backend!r}")


def gradient(backend: str, fn: Callable, args: list):
    """Return (l, aux, dl/dargs) for ``fn(args) = (l, aux)``; unconnected arguments get None."""
    if backend == "jax":
        import jax
        import jax.numpy as jnp

        def once(a):
            l, vjp, aux = jax.vjp(fn, a, has_aux=True)
            (g,) = vjp(jnp.ones_like(l))
            return l, aux, list(g)

        return jax.jit(once)(args)  # one module for the forward and backward pass (see two_gradients)
    if backend == "tensorflow":
        import tensorflow as tf

        with tf.GradientTape() as tape:
            tape.watch(args)
            l, aux = fn(args)
        g = tape.gradient(l, args, unconnected_gradients=tf.UnconnectedGradients.NONE)
        return l, aux, list(g)
    if backend == "torch":
        import torch

        args = [a.detach().requires_grad_(True) for a in args]
        l, aux = fn(args)
        g = torch.autograd.grad(l, args, allow_unused=True)
        return l, aux, list(g)
    raise ValueError(f"unknown Keras backend {backend!r}")


def value(backend: str, fn: Callable, args: list):
    """Return ``fn(args) = (l, aux)`` as ``gradient`` computes it, without the backward pass: on torch the
    same operations on the same arguments (marked as requiring gradients, as there), so ``aux`` is
    bitwise the forward pass ``gradient`` takes its gradients of; on JAX one jit module of the forward."""
    if backend == "jax":
        import jax

        return jax.jit(fn)(args)
    if backend == "torch":
        args = [a.detach().requires_grad_(True) for a in args]
    return fn(args)


def traced_shapes(backend: str, fn: Callable):
    """``fn()``'s result, its arrays only good for their ``.shape``: JAX traces ``fn`` without computing it.

    (A dict comes back from JAX with its keys sorted: read it by key.)
    """
    if backend == "jax":
        import jax

        return jax.eval_shape(fn)
    return fn()
