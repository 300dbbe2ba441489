"""dlnotes.attention against torch (F.conv1d, F.scaled_dot_product_attention, nn.MultiheadAttention)
in float64, the structure of each mixing matrix, and the bad-input contract."""
import math

import pytest
import torch
import torch.nn.functional as F

from dlnotes.attention import (AttentionWeights, causal_mask, conv_matrix, multi_head_attention,
                               nonlocal_matrix, relative_bias, scaled_dot_product_attention,
                               sinusoidal_embedding, softmax_matrix, toeplitz_matrix)

# float64 with O(1) values: independent code paths differ by rounding (~1e-15); 1e-12 is far
# above that and far below any indexing or scaling mistake (O(0.1)).
TOL = dict(rtol=0, atol=1e-12)


def _gen(seed=0):
    return torch.Generator().manual_seed(seed)


def _x(n=7, d=3, seed=0):
    return torch.randn(n, d, dtype=torch.float64, generator=_gen(seed))


def test_conv_matrix_is_conv1d():
    x, w = _x(), torch.randn(5, dtype=torch.float64, generator=_gen(1))
    ref = F.conv1d(x.T[:, None, :], w[None, None, :], padding=2)[:, 0, :].T
    torch.testing.assert_close(conv_matrix(w, 7) @ x, ref, **TOL)
    assert conv_matrix(w, 7)[0, 5] == 0  # outside the band


def test_toeplitz_matrix_is_full_convolution_and_depends_on_offset():
    x, g = _x(), torch.randn(13, dtype=torch.float64, generator=_gen(2))
    ref = F.conv1d(x.T[:, None, :], g[None, None, :], padding=6)[:, 0, :].T
    a = toeplitz_matrix(g, 7)
    torch.testing.assert_close(a @ x, ref, **TOL)
    assert a[2, 5] == g[3 + 6] and a[0, 0] == g[6]


def test_nonlocal_and_softmax_matrices():
    x = _x(6, 4)
    torch.testing.assert_close(nonlocal_matrix(x), x @ x.T / 6, **TOL)
    a = softmax_matrix(x)
    torch.testing.assert_close(a.sum(-1), torch.ones(6, dtype=torch.float64), **TOL)
    ref = F.scaled_dot_product_attention(x[None], x[None], x[None])[0]
    torch.testing.assert_close(a @ x, ref, **TOL)


@pytest.mark.parametrize("masked", [False, True])
def test_sdpa_equals_torch_with_mask_and_bias(masked):
    g = _gen(3)
    q, k = (torch.randn(2, 5, 4, dtype=torch.float64, generator=g) for _ in range(2))
    v = torch.randn(2, 5, 6, dtype=torch.float64, generator=g)
    bias = torch.randn(5, 5, dtype=torch.float64, generator=g)
    mask = causal_mask(5) if masked else None
    h, w = scaled_dot_product_attention(q, k, v, mask=mask, bias=bias)
    ref_mask = bias.masked_fill(~mask, float("-inf")) if masked else bias
    torch.testing.assert_close(h, F.scaled_dot_product_attention(q, k, v, attn_mask=ref_mask), **TOL)
    assert h.shape == (2, 5, 6) and w.shape == (2, 5, 5)
    if masked:
        assert (w[..., ~causal_mask(5)] == 0).all()


def test_mha_equals_torch_module():
    torch.manual_seed(0)
    mha = torch.nn.MultiheadAttention(12, 3, batch_first=True).double()
    with torch.no_grad():
        mha.in_proj_bias.normal_(), mha.out_proj.bias.normal_()
    x = torch.randn(2, 6, 12, dtype=torch.float64, generator=_gen(4))
    ours = multi_head_attention(x, AttentionWeights.from_torch(mha), 3)
    torch.testing.assert_close(ours, mha(x, x, x, need_weights=False)[0].detach(), **TOL)
    mask = causal_mask(6)
    ours = multi_head_attention(x, AttentionWeights.from_torch(mha), 3, mask=mask)
    theirs = mha(x, x, x, attn_mask=~mask, need_weights=False)[0].detach()  # torch: True = blocked
    torch.testing.assert_close(ours, theirs, **TOL)


def test_sinusoidal_embedding_values_and_relative_structure():
    e = sinusoidal_embedding(50, 8).double()
    assert e.shape == (50, 8) and e[0, 0] == 0 and e[0, 1] == 1
    assert abs(e[3, 2].item() - math.sin(3 * 10000 ** (-2 / 8))) < 1e-6
    gram = e @ e.T
    torch.testing.assert_close(gram[5, 9], gram[20, 24], rtol=0, atol=1e-5)  # depends on i - j


def test_relative_bias_and_causal_mask():
    b = relative_bias(torch.arange(9.0), 5)
    assert b[0, 0] == 4 and b[4, 0] == 8 and b[0, 4] == 0
    assert (b[1:, 1:] == b[:-1, :-1]).all()
    # every entry against the definition B[i, j] = b_{i-j}, table index (i - j) + (n - 1); a
    # transposed bias (b_{j-i}) would fail all off-diagonal entries
    table = torch.randn(9, dtype=torch.float64)
    expected = torch.tensor([[table[i - j + 4].item() for j in range(5)] for i in range(5)], dtype=torch.float64)
    assert torch.equal(relative_bias(table, 5), expected)
    m = causal_mask(4)
    assert m.dtype == torch.bool and m[2, 1] and not m[1, 2]


def test_bad_inputs_raise():
    x = _x()
    with pytest.raises(ValueError, match="kernel"):
        conv_matrix(torch.ones(4), 7)
    with pytest.raises(ValueError, match="g must have shape"):
        toeplitz_matrix(torch.ones(12), 7)
    with pytest.raises(ValueError, match="x"):
        softmax_matrix(torch.ones(5))
    with pytest.raises(ValueError, match="x"):
        nonlocal_matrix(torch.ones(4, 3, dtype=torch.int64))
    q, v = torch.randn(5, 4), torch.randn(5, 6)
    with pytest.raises(ValueError, match="same head dimension"):
        scaled_dot_product_attention(q, v, v)
    with pytest.raises(ValueError, match="positions"):
        scaled_dot_product_attention(q, q, torch.randn(4, 6))
    with pytest.raises(ValueError, match="mask"):
        scaled_dot_product_attention(q, q, v, mask=causal_mask(4))
    with pytest.raises(ValueError, match="mask"):
        scaled_dot_product_attention(q, q, v, mask=causal_mask(5).float())
    with pytest.raises(ValueError, match="at least one key"):
        scaled_dot_product_attention(q, q, v, mask=torch.zeros(5, 5, dtype=torch.bool))
    with pytest.raises(ValueError, match="bias"):
        scaled_dot_product_attention(q, q, v, bias=torch.zeros(5, 4))
    mha = torch.nn.MultiheadAttention(6, 2)
    w = AttentionWeights.from_torch(mha)
    with pytest.raises(ValueError, match="n_heads"):
        multi_head_attention(torch.randn(5, 6), w, 4)
    with pytest.raises(ValueError, match="width d"):
        multi_head_attention(torch.randn(5, 7), w, 2)
    with pytest.raises(ValueError, match="weights"):
        multi_head_attention(torch.randn(5, 6), tuple(w), 2)
    with pytest.raises(ValueError, match="module"):
        AttentionWeights.from_torch(torch.nn.Linear(3, 3))
    with pytest.raises(ValueError, match="d must be even"):
        sinusoidal_embedding(4, 5)
    with pytest.raises(ValueError, match="base"):
        sinusoidal_embedding(4, 4, base=1)
    with pytest.raises(ValueError, match="table"):
        relative_bias(torch.ones(5), 5)
    with pytest.raises(ValueError, match="n"):
        causal_mask(0)
