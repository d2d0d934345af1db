"""Key-padding masks in scratch's attention (the first step of issue item "key-padding masks"): a padded key
gets zero weight, the tokens' outputs are those of the unpadded sequence, the backward pass by finite
differences, and a sequence padded completely refused in one line."""

from __future__ import annotations

import numpy as np
import pytest

from parity.gradcheck import numerical_gradient
from parity.tolerance import FINITE_DIFFERENCE, relative_error
from scratch.attention import ScaledDotProductAttention, causal_mask, key_padding_mask


def _qkv(rng, B=2, h=2, T=4, d=3):
    return rng.standard_normal((B, h, T, d)), rng.standard_normal((B, h, T, d)), rng.standard_normal((B, h, T, d))


def test_key_padding_mask_is_true_on_tokens():
    ids = np.array([[3, 1, 0, 0], [2, 0, 5, 0]])
    assert key_padding_mask(ids).tolist() == [[[True, True, False, False]], [[True, False, True, False]]]


def test_padded_keys_get_zero_weight_and_tokens_see_the_unpadded_sequence(rng):
    """Sequence 0 is two tokens then two pads: its weights on the pads are exactly 0, and each query's output
    equals attention over the two tokens alone (a sequence of length 2)."""
    Q, K, V = _qkv(rng)
    ids = np.array([[3, 1, 0, 0], [2, 4, 5, 6]])
    attention = ScaledDotProductAttention()
    O = attention.forward(Q, K, V, key_padding_mask(ids))
    assert np.all(attention.P[0, :, :, 2:] == 0.0) and np.all(attention.P[1] > 0.0)
    alone = ScaledDotProductAttention().forward(Q[:1], K[:1, :, :2], V[:1, :, :2])
    np.testing.assert_allclose(O[:1], alone, rtol=1e-14, atol=1e-15)


@pytest.mark.parametrize("causal", [False, True])
def test_masked_attention_gradients_by_finite_differences(rng, causal):
    Q, K, V = _qkv(rng)
    M = key_padding_mask(np.array([[3, 1, 0, 2], [2, 4, 5, 0]]))  # (B, 1, S)
    if causal:
        M = M & causal_mask(4, 4)  # (B, T, S): Keras combines the masks with &
    G = rng.standard_normal(Q.shape)
    attention = ScaledDotProductAttention()
    attention.forward(Q, K, V, M)
    dQ, dK, dV = attention.backward(G)
    for name, A, dA in (("Q", Q, dQ), ("K", K, dK), ("V", V, dV)):
        numeric = numerical_gradient(lambda: float((ScaledDotProductAttention().forward(Q, K, V, M) * G).sum()), A)
        assert relative_error(numeric, dA) <= FINITE_DIFFERENCE, name
    assert np.all(dK[0, :, 2] == 0.0) and np.all(dV[0, :, 2] == 0.0)  # a padded key's gradients are zero


def test_a_sequence_padded_completely_is_refused_in_one_line(rng):
    Q, K, V = _qkv(rng)
    with pytest.raises(ValueError, match="query 0 of sequence 1 has every key masked") as error:
        ScaledDotProductAttention().forward(Q, K, V, key_padding_mask(np.array([[3, 1, 0, 0], [0, 0, 0, 0]])))
    assert len(str(error.value).splitlines()) == 1
