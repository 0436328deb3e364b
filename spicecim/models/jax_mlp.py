"""An :class:`~spicecim.models.mlp.Mlp` in JAX: parameters as a pytree and a pure forward
pass, for the fitter (autodiff) and for the compiled digital baseline (``jax.jit``).

This is the one evaluator module that imports JAX at import time; the others import it when
they need it, so the command line starts without loading XLA.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import jax
import jax.numpy as jnp
import numpy as np

from spicecim.models.mlp import Dense, Mlp

Params = dict[str, tuple[jax.Array, jax.Array]]
"""Layer name -> (weight (in, out), bias (out,))."""
JaxMatmul = Callable[[str, jax.Array, jax.Array], jax.Array]

_ACTIVATIONS: dict[str, Callable[[jax.Array], jax.Array]] = {
    "relu": jax.nn.relu,
    "sigmoid": jax.nn.sigmoid,
    "softplus": jax.nn.softplus,
    "tanh": jnp.tanh,
    "none": lambda z: z,
}


def params_of(mlp: Mlp, dtype: jnp.dtype = jnp.float32) -> Params:
    return {layer.name: (jnp.asarray(layer.weight, dtype), jnp.asarray(layer.bias, dtype))
            for layer in mlp.layers}


def with_params(mlp: Mlp, params: Params) -> Mlp:
    """``mlp``'s graph with the (fitted) ``params`` as float32 NumPy weights."""
    return mlp.with_layers(tuple(
        Dense(layer.name, layer.sources, np.asarray(params[layer.name][0], np.float32),
              np.asarray(params[layer.name][1], np.float32), layer.activation)
        for layer in mlp.layers))


def tensors(mlp: Mlp, params: Params, inputs: Mapping[str, jax.Array],
            matmul: JaxMatmul | None = None) -> dict[str, jax.Array]:
    """Every tensor's activation: the same graph as :meth:`Mlp.tensors`, traceable by JAX.
    ``matmul(layer_name, x, weight)`` may replace each layer's product (a quantised or noisy
    one, for fitting a model to its hardware)."""
    out = {name: inputs[name] for name, _ in mlp.inputs}
    for layer in mlp.layers:
        parts = [out[s] for s in layer.sources]
        x = parts[0] if len(parts) == 1 else jnp.concatenate(parts, axis=1)
        w, b = params[layer.name]
        z = x @ w if matmul is None else matmul(layer.name, x, w)
        out[layer.name] = _ACTIVATIONS[layer.activation](z + b)
    return out


def forward(mlp: Mlp, params: Params, inputs: Mapping[str, jax.Array],
            matmul: JaxMatmul | None = None) -> dict[str, jax.Array]:
    """The output layers' activations, as :meth:`Mlp.forward`."""
    out = tensors(mlp, params, inputs, matmul)
    return {name: out[name] for name in mlp.outputs}


def compiled(mlp: Mlp) -> Callable[[Params, Mapping[str, jax.Array]], dict[str, jax.Array]]:
    """``jax.jit`` of :func:`forward` (compiled on the first call for each input shape)."""
    return jax.jit(lambda params, inputs: forward(mlp, params, inputs))
