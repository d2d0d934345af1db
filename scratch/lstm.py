"""Long short-term memory, with backpropagation through time written by hand."""

from __future__ import annotations

import numpy as np

from scratch.layer import glorot_uniform
from scratch.simple_rnn import Recurrent, orthogonal
from scratch.threads import one_blas_thread


class LSTM(Recurrent):
    """LSTM (Hochreiter & Schmidhuber 1997), gates in Keras order (i, f, c, o).

    Forward, for t = 1..T (h_0, c_0 = initial_state or zeros); A_t holds the
    four gate pre-activations side by side, A_t = [A_i | A_f | A_g | A_o]::

        A_t = x_t W + h_{t-1} U + b
        i_t = σ(A_i)                 # input gate
        f_t = σ(A_f)                 # forget gate
        g_t = tanh(A_g)              # candidate cell ("c" in Keras' naming)
        o_t = σ(A_o)                 # output gate
        c_t = f_t * c_{t-1} + i_t * g_t
        h_t = o_t * tanh(c_t)
        Z   = (h_1, ..., h_T) if return_sequences else h_T

    Backward through time, given dZ; dh and dc start at zero after step T,
    and dh_t also receives dZ[:, t] (return_sequences) or dZ at t = T only::

        dc_t   += dh_t * o_t * (1 - tanh(c_t)**2)
        dA_i    = dc_t * g_t     * i_t (1 - i_t)
        dA_f    = dc_t * c_{t-1} * f_t (1 - f_t)
        dA_g    = dc_t * i_t     * (1 - g_t**2)
        dA_o    = dh_t * tanh(c_t) * o_t (1 - o_t)
        dh_{t-1} = dA_t U.T          # dA_t = [dA_i | dA_f | dA_g | dA_o]
        dc_{t-1} = dc_t * f_t
        dx_t     = dA_t W.T
        dW = sum_t x_t.T dA_t,   dU = sum_t h_{t-1}.T dA_t,   db = sum_{t,batch} dA_t
        dh0, dc0 = dh_0, dc_0        # in grads["h0"], grads["c0"], only if given

    One tanh gives all four gates: σ(a) = ½ tanh(a/2) + ½, so with the
    per-column scale m = [½ | ½ | 1 | ½] (one value per gate block)::

        [i | f | g | o] = m tanh(m A_t) + (1 - m),   m A_t = x_t (W m) + h_{t-1} (U m) + b m

    W m, U m and b m are formed once per pass; scaling by ½ is exact in floating
    point, so this is the same number as σ(A) and tanh(A) computed apart.

    The inputs, a column of ones and the hidden states sit side by side in one
    time-major array, XH[t] = [x_{t+1} | 1 | h_t] (no ones without a bias), so
    the input projection of all steps is one product that includes b, and the
    parameter gradients are one product after the loop::

        [dW; db; dU] = sum_t [x_t | 1 | h_{t-1}].T dA_t     # (F + 1 + H, 4H)

    The factors that need no upstream gradient (g σ', c_{t-1} σ', ...) are
    computed for all steps at once before the loop, and dx_t = dA_t W.T after
    it for all T steps at once: only dh_{t-1} = dA_t U.T needs the loop.

    Shapes:
        X, dX: (B, T, F)
        W, dW: (F, 4H)      # Keras kernel; torch weight_ih_l0 is W.T (same gate order i, f, g, o)
        U, dU: (H, 4H)      # Keras recurrent_kernel; torch weight_hh_l0 is U.T
        b, db: (4H,)        # torch has two biases: b = bias_ih_l0 + bias_hh_l0
        h0, c0, dh0, dc0: (B, H)
        Z, dZ: (B, T, H) if return_sequences else (B, H)

    Initialisation (Keras defaults): W Glorot-uniform, U orthogonal, b ones in
    the f block and zeros elsewhere (unit_forget_bias=True).

    Args:
        units: H.
        return_sequences: return every h_t, not only the last.
        use_bias: whether b exists.
    """

    gates = 4

    def init(self, rng: np.random.Generator, dtype=np.float64) -> None:
        F, H = self.input_dim, self.units
        self.params["W"] = glorot_uniform(rng, F, 4 * H, (F, 4 * H), dtype)
        self.params["U"] = orthogonal(rng, (H, 4 * H), dtype)
        if self.use_bias:
            b = np.zeros(4 * H, dtype=dtype)
            b[H : 2 * H] = 1.0  # unit_forget_bias: start by remembering
            self.params["b"] = b

    def forward(self, X: np.ndarray, initial_state: tuple[np.ndarray, np.ndarray] | None = None) -> np.ndarray:
        self._check_input(X)
        B, T, F = X.shape
        H = self.units
        W, U = self.params["W"], self.params["U"]
        if initial_state is not None and len(initial_state) != 2:
            raise ValueError(
                f"LSTM {self.name!r}: initial_state must be a pair (h0, c0), received {len(initial_state)} arrays"
            )
        h0, c0 = (None, None) if initial_state is None else initial_state
        self.has_initial_state = initial_state is not None
        m = np.full(4 * H, 0.5, dtype=W.dtype)  # (4H,): the gate scale [½ | ½ | 1 | ½]
        m[2 * H : 3 * H] = 1.0
        shift = 1.0 - m  # (4H,): [½ | ½ | 0 | ½]
        # XH[t] = [x_{t+1} | 1 | h_t] side by side (the 1 only with a bias), time-major: the
        # input projection reads its x | 1 columns, each step reads h_{t-1} from it and writes
        # h_t into it, and the backward pass forms dW, db and dU as one matmul over its rows.
        E = F + self.use_bias  # the columns before h
        XH = np.empty((T + 1, B, E + H), dtype=np.result_type(X, W))  # (T+1, B, F [+ 1] + H)
        XH[:T, :, :F] = X.transpose(1, 0, 2)  # time-major copy
        XH[:, :, F:E] = 1.0
        XH[T, :, :E] = 0.0  # no x_{T+1}: the row holds h_T only
        Hs = XH[:, :, E:]  # (T+1, B, H) view: Hs[t] = h_t
        Wbm = np.concatenate([W, self.params["b"][None]]) if self.use_bias else W  # (F [+ 1], 4H)
        Wbm = Wbm * m
        # Gates starts as x_t (W m) + b m of all steps at once (one matmul); each step adds
        # h_{t-1} (U m) and applies the activations in place, so it ends as [i | f | g | o].
        Gates = (XH[:T, :, :E].reshape(T * B, E) @ Wbm).reshape(T, B, 4 * H)  # (T, B, 4H)
        Um = U * m  # (H, 4H)
        dtype = Gates.dtype
        Cs = np.empty((T + 1, B, H), dtype=dtype)  # Cs[t] = c_t
        TanhC = np.empty((T, B, H), dtype=dtype)  # TanhC[t] = tanh(c_{t+1})
        Hs[0] = self._initial(h0, "initial h0", B, X.dtype)
        Cs[0] = self._initial(c0, "initial c0", B, X.dtype)
        # Reused per step. BLAS writes h_{t-1} (U m) into HU, a small buffer that stays in
        # cache, and the step adds it to its slab of Gates (rather than writing a slab of a
        # second (T, B, 4H) array and adding x_t W m to it).
        HU = np.empty((B, 4 * H), dtype=dtype)
        IG = np.empty((B, H), dtype=dtype)  # i_t * g_t
        with one_blas_thread():  # small products between NumPy's own steps (scratch.threads)
            for t in range(T):
                S = Gates[t]  # (B, 4H) view, holds x_t (W m) + b m
                np.matmul(Hs[t], Um, out=HU)  # one matmul for all four gates
                S += HU  # m A_t
                np.tanh(S, out=S)  # one tanh for all four gates ...
                S *= m  # ... and σ(a) = ½ tanh(a/2) + ½ for i, f, o
                S += shift
                i, f, g, o = S[:, :H], S[:, H : 2 * H], S[:, 2 * H : 3 * H], S[:, 3 * H :]  # (B, H) views
                np.multiply(f, Cs[t], out=Cs[t + 1])  # c_t = f_t * c_{t-1} + i_t * g_t
                np.multiply(i, g, out=IG)
                Cs[t + 1] += IG
                np.tanh(Cs[t + 1], out=TanhC[t])
                np.multiply(o, TanhC[t], out=Hs[t + 1])
        self.XH, self.Gates, self.Cs, self.TanhC = XH, Gates, Cs, TanhC
        return self._output(Hs)

    def backward(self, dZ: np.ndarray) -> np.ndarray:
        XH, W, U = self.XH, self.params["W"], self.params["U"]
        Gates, Cs, TanhC = self.Gates, self.Cs, self.TanhC
        T, B, H = Gates.shape[0], Gates.shape[1], self.units
        I, Fg, G, O = (Gates[..., k * H : (k + 1) * H] for k in range(4))  # 4 x (T, B, H) views
        # What needs no upstream gradient is computed for all steps at once: dA holds the
        # factors that multiply dc_t (or dh_t, for o) in dA_t.
        dA = 1.0 - Gates  # (T, B, 4H): σ' = σ (1 - σ) for i, f, o ...
        dA *= Gates
        dA_i, dA_f, dA_g, dA_o = (dA[..., k * H : (k + 1) * H] for k in range(4))  # 4 x (T, B, H) views
        np.multiply(G, G, out=dA_g)  # ... and tanh' = 1 - g² for g
        np.subtract(1.0, dA_g, out=dA_g)
        dA_i *= G  # g_t σ'(A_i)
        dA_f *= Cs[:-1]  # c_{t-1} σ'(A_f)
        dA_g *= I  # i_t tanh'(A_g)
        dA_o *= TanhC  # tanh(c_t) σ'(A_o)
        dC_from_h = TanhC * TanhC  # (T, B, H): ∂c_t/∂h_t path, o_t (1 - tanh²(c_t))
        np.subtract(1.0, dC_from_h, out=dC_from_h)
        dC_from_h *= O
        dZ_t = dZ.transpose(1, 0, 2) if self.return_sequences else None  # (T, B, H)
        dh = np.zeros((B, H), dtype=dZ.dtype)  # dh_t, updated in place
        if dZ_t is None:
            dh += dZ  # only h_T is returned
        dc = np.zeros((B, H), dtype=dZ.dtype)  # dc_t, updated in place
        dhc = np.empty((B, H), dtype=dZ.dtype)  # reused: dh_t o_t (1 - tanh²(c_t))
        # U.T as its own contiguous (4H, H) array: OpenBLAS multiplies by it about 1.5x
        # faster than by the transposed view of U, and it is used T times.
        UT = np.ascontiguousarray(U.T)
        # With the factors ready, a step is six ufuncs and one matmul (ten ufuncs when they
        # were formed per step): less of the work that NumPy does on one thread between two
        # matmuls that BLAS may spread over several. Those matmuls are small, and they run
        # on one BLAS thread: a second thread would read what this one just wrote, every step.
        with one_blas_thread():
            for t in reversed(range(T)):
                if dZ_t is not None:
                    dh += dZ_t[t]
                np.multiply(dh, dC_from_h[t], out=dhc)
                dc += dhc
                dA_t = dA[t].reshape(B, 4, H)  # (B, 4, H) view: gate k in dA_t[:, k]
                dA_t[:, :3] *= dc[:, None, :]  # dA_i, dA_f, dA_g: their factors times dc_t
                dA_t[:, 3] *= dh  # dA_o = dh_t tanh(c_t) σ'(A_o)
                np.matmul(dA[t], UT, out=dh)  # dh_{t-1}
                dc *= Fg[t]  # dc_{t-1}
        dA2 = dA.reshape(T * B, 4 * H)  # (T*B, 4H)
        # [dW; db; dU] = [x_t | 1 | h_{t-1}].T dA_t summed over t and the batch, one matmul
        # (~15% less CPU time than two matmuls and a sum, float32, the benchmark's shapes)
        E = XH.shape[-1] - H
        dWbU = XH[:T].reshape(T * B, E + H).T @ dA2  # (F [+ 1] + H, 4H)
        self.grads["W"] = dWbU[: W.shape[0]]
        if self.use_bias:
            self.grads["b"] = dWbU[W.shape[0]]
        self.grads["U"] = dWbU[E:]
        self._state_grads(h0=dh, c0=dc)
        WT = np.ascontiguousarray(W.T)  # (4H, F): like UT, ~10% faster than the view W.T here
        dX = (dA2 @ WT).reshape(T, B, -1)  # (T, B, F)
        return np.ascontiguousarray(dX.transpose(1, 0, 2))  # (B, T, F)
