"""Gated recurrent unit, both Keras variants, with backpropagation through time written by hand."""

from __future__ import annotations

import numpy as np

from scratch.simple_rnn import Recurrent, gate_sigmoid


class GRU(Recurrent):
    """GRU (Cho et al. 2014), gates in Keras order (z, r, h), as keras.layers.GRU computes it.

    Forward, for t = 1..T (h_0 = initial_state or zeros); x_t W = [xW_z | xW_r | xW_h],
    U = [U_z | U_r | U_h] and the biases split the same way::

        reset_after=True (Keras' default; b = [b_in ; b_rec], two rows):
            R_t  = h_{t-1} U + b_rec                       # one matmul for all three blocks
            z_t  = σ(xW_z + b_in_z + R_z)                  # update gate
            r_t  = σ(xW_r + b_in_r + R_r)                  # reset gate
            hh_t = tanh(xW_h + b_in_h + r_t * R_h)         # candidate: reset AFTER the matmul
        reset_after=False (b one row):
            z_t  = σ(xW_z + b_z + h_{t-1} U_z)
            r_t  = σ(xW_r + b_r + h_{t-1} U_r)
            hh_t = tanh(xW_h + b_h + (r_t * h_{t-1}) U_h)  # reset BEFORE the matmul
        h_t = z_t * h_{t-1} + (1 - z_t) * hh_t
        Z   = (h_1, ..., h_T) if return_sequences else h_T

    Backward through time, given dZ; dh starts at zero after step T and dh_t
    also receives dZ[:, t] (return_sequences) or dZ at t = T only. dA_* are the
    gradients of the input-side pre-activations (xW + b_in)::

        dA_z = dh_t * (h_{t-1} - hh_t) * z_t (1 - z_t)
        dA_h = dh_t * (1 - z_t) * (1 - hh_t**2)
        reset_after=True:
            dA_r     = dA_h * R_h * r_t (1 - r_t)
            dR       = [dA_z | dA_r | dA_h * r_t]             # gradient of R_t
            dh_{t-1} = dh_t * z_t + dR U.T
            dU = sum_t h_{t-1}.T dR,   db_rec = sum_{t,batch} dR
        reset_after=False:
            dRH      = dA_h U_h.T                              # gradient of r_t * h_{t-1}
            dA_r     = dRH * h_{t-1} * r_t (1 - r_t)
            dh_{t-1} = dh_t * z_t + dRH * r_t + [dA_z | dA_r] [U_z | U_r].T
            dU_z|r = sum_t h_{t-1}.T [dA_z | dA_r],   dU_h = sum_t (r_t * h_{t-1}).T dA_h
        dW = sum_t x_t.T dA_t,   db_in = sum_{t,batch} dA_t,   dx_t = dA_t W.T
        dh0 = dh_0                                             # in grads["h0"], only if h0 was given

    PyTorch's nn.GRU is the reset_after=True variant with the same h_t formula
    (its h_t = (1 - z) n + z h_{t-1} is this one), but it orders the blocks
    (r, z, n) instead of (z, r, h): weight_ih_l0 = W.T and weight_hh_l0 = U.T
    with blocks reordered, bias_ih_l0 = b[0] and bias_hh_l0 = b[1] reordered
    likewise. reset_after=False has no PyTorch counterpart.

    Shapes:
        X, dX: (B, T, F)
        W, dW: (F, 3H)                 # Keras kernel
        U, dU: (H, 3H)                 # Keras recurrent_kernel
        b, db: (2, 3H) if reset_after  # row 0 input bias, row 1 recurrent bias (Keras' layout)
               (3H,) otherwise
        h0, dh0: (B, H)
        Z, dZ: (B, T, H) if return_sequences else (B, H)

    Initialisation (Keras defaults): W Glorot-uniform, U orthogonal, b zero.

    Args:
        units: H.
        return_sequences: return every h_t, not only the last.
        use_bias: whether b exists.
        reset_after: apply the reset gate after the recurrent matmul (True,
            Keras' default and cuDNN's/PyTorch's form) or before it (False).
    """

    gates = 3

    def __init__(
        self,
        units: int,
        return_sequences: bool = False,
        use_bias: bool = True,
        reset_after: bool = True,
        name: str | None = None,
    ) -> None:
        super().__init__(units, return_sequences, use_bias, name)
        if not isinstance(reset_after, (bool, np.bool_)):
            raise ValueError(f"GRU {self.name!r}: reset_after must be a bool, received {reset_after!r}")
        self.reset_after = bool(reset_after)

    def weight_shapes(self) -> dict[str, tuple[int, ...]]:
        shapes = super().weight_shapes()
        if self.use_bias and self.reset_after:
            shapes["b"] = (2, 3 * self.units)  # [b_in ; b_rec]
        return shapes

    def init(self, rng: np.random.Generator, dtype=np.float64) -> None:
        super().init(rng, dtype)
        if self.use_bias and self.reset_after:
            self.params["b"] = np.zeros((2, 3 * self.units), dtype=dtype)  # [b_in ; b_rec]

    def forward(self, X: np.ndarray, initial_state: np.ndarray | None = None) -> np.ndarray:
        self._check_input(X)
        B, T, F = X.shape
        H = self.units
        W, U = self.params["W"], self.params["U"]
        self.has_initial_state = initial_state is not None
        self.Xt = X.transpose(1, 0, 2).reshape(T * B, F)  # (T*B, F), time-major copy
        XW = (self.Xt @ W).reshape(T, B, 3 * H)  # (T, B, 3H): the input projection of all steps at once
        if self.use_bias:
            XW += self.params["b"][0] if self.reset_after else self.params["b"]
        Gates = np.empty((T, B, 3 * H), dtype=XW.dtype)  # [z | r | hh] after their activations
        Hs = np.empty((T + 1, B, H), dtype=XW.dtype)  # Hs[t] = h_t
        Hs[0] = self._initial(initial_state, "initial_state", B, X.dtype)
        # reset_after: R_h = h_{t-1} U_h + b_rec_h; otherwise r_t * h_{t-1}. Both feed dr in backward.
        Mid = np.empty((T, B, H), dtype=XW.dtype)
        R = np.empty((B, 3 * H if self.reset_after else 2 * H), dtype=XW.dtype)  # reused per step
        for t in range(T):
            S = Gates[t]  # (B, 3H) view, filled in place
            np.matmul(Hs[t], U if self.reset_after else U[:, : 2 * H], out=R)
            if self.reset_after and self.use_bias:
                R += self.params["b"][1]
            np.add(XW[t, :, : 2 * H], R[:, : 2 * H], out=S[:, : 2 * H])
            gate_sigmoid(S[:, : 2 * H], out=S[:, : 2 * H])  # z and r together
            z, r = S[:, :H], S[:, H : 2 * H]  # (B, H) views
            if self.reset_after:
                Mid[t] = R[:, 2 * H :]
                np.tanh(XW[t, :, 2 * H :] + r * Mid[t], out=S[:, 2 * H :])
            else:
                np.multiply(r, Hs[t], out=Mid[t])
                np.tanh(XW[t, :, 2 * H :] + Mid[t] @ U[:, 2 * H :], out=S[:, 2 * H :])
            hh = S[:, 2 * H :]
            Hs[t + 1] = hh + z * (Hs[t] - hh)  # = z h_{t-1} + (1 - z) hh
        self.Gates, self.Hs, self.Mid = Gates, Hs, Mid
        return self._output(Hs)

    def backward(self, dZ: np.ndarray) -> np.ndarray:
        Xt, W, U = self.Xt, self.params["W"], self.params["U"]
        Gates, Hs, Mid = self.Gates, self.Hs, self.Mid
        T, B, H = Gates.shape[0], Gates.shape[1], self.units
        Zg, Rg, HH = (Gates[..., k * H : (k + 1) * H] for k in range(3))  # 3 x (T, B, H) views
        # dA_z and dA_h are dh_t times a factor known from the forward pass: computed for all steps at once.
        Pz = (Hs[:-1] - HH) * Zg * (1.0 - Zg)  # (T, B, H)
        Ph = (1.0 - Zg) * (1.0 - HH * HH)  # (T, B, H)
        dRr = Rg * (1.0 - Rg)  # (T, B, H): σ' of r
        dZ_t = dZ.transpose(1, 0, 2) if self.return_sequences else None  # (T, B, H)
        dh = np.zeros((B, H), dtype=dZ.dtype) if self.return_sequences else dZ
        dA = np.empty((T, B, 3 * H), dtype=dZ.dtype)  # [dA_z | dA_r | dA_h]
        dA2 = dA.reshape(T * B, 3 * H)  # (T*B, 3H), a view: the loop fills it
        if self.reset_after:
            dR = np.empty((T, B, 3 * H), dtype=dZ.dtype)  # gradient of R_t
            UT = U.T  # (3H, H)
            for t in reversed(range(T)):
                if dZ_t is not None:
                    dh = dh + dZ_t[t]
                np.multiply(dh, Pz[t], out=dA[t, :, :H])  # dA_z
                np.multiply(dh, Ph[t], out=dA[t, :, 2 * H :])  # dA_h
                np.multiply(dA[t, :, 2 * H :] * Mid[t], dRr[t], out=dA[t, :, H : 2 * H])  # dA_r
                dR[t, :, : 2 * H] = dA[t, :, : 2 * H]
                np.multiply(dA[t, :, 2 * H :], Rg[t], out=dR[t, :, 2 * H :])  # dR_h = dA_h r
                dh = dh * Zg[t] + dR[t] @ UT  # dh_{t-1}
            dR2 = dR.reshape(T * B, 3 * H)  # (T*B, 3H)
            dU = Hs[:-1].reshape(T * B, H).T @ dR2
        else:
            U_zr_T, U_h_T = U[:, : 2 * H].T, U[:, 2 * H :].T  # (2H, H), (H, H)
            for t in reversed(range(T)):
                if dZ_t is not None:
                    dh = dh + dZ_t[t]
                np.multiply(dh, Pz[t], out=dA[t, :, :H])  # dA_z
                np.multiply(dh, Ph[t], out=dA[t, :, 2 * H :])  # dA_h
                dRH = dA[t, :, 2 * H :] @ U_h_T  # gradient of r_t * h_{t-1}
                np.multiply(dRH * Hs[t], dRr[t], out=dA[t, :, H : 2 * H])  # dA_r
                dh = dh * Zg[t] + dRH * Rg[t] + dA[t, :, : 2 * H] @ U_zr_T  # dh_{t-1}
            dU = np.empty_like(U)
            dU[:, : 2 * H] = Hs[:-1].reshape(T * B, H).T @ dA2[:, : 2 * H]
            dU[:, 2 * H :] = Mid.reshape(T * B, H).T @ dA2[:, 2 * H :]  # Mid[t] = r_t * h_{t-1}
        self.grads["W"] = Xt.T @ dA2
        self.grads["U"] = dU
        if self.use_bias:
            db = dA2.sum(axis=0)
            self.grads["b"] = np.stack([db, dR2.sum(axis=0)]) if self.reset_after else db  # (2, 3H) or (3H,)
        self._state_grads(h0=dh)
        dX = (dA2 @ W.T).reshape(T, B, -1)  # (T, B, F)
        return np.ascontiguousarray(dX.transpose(1, 0, 2))  # (B, T, F)
