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


# --- linear attention ------------------------------------------------------------------------

from dlnotes.attention import (CharTransformer, LinearAttentionState, TransformerBlock,  # noqa: E402
                               elu_feature_map, exponential_kernel, kernel_attention, linear_attention,
                               linear_attention_recurrent, linear_attention_step, linear_kernel)


def _qkv(b=(2, 3), n=9, m=9, c=4, dv=5, seed=0):
    g = _gen(seed)
    return (torch.randn(*b, n, c, dtype=torch.float64, generator=g),
            torch.randn(*b, m, c, dtype=torch.float64, generator=g),
            torch.randn(*b, m, dv, dtype=torch.float64, generator=g))


def _explicit(q, k, v, causal):
    # the notes' left side entry by entry: Σ_j φ(q_i)ᵀφ(k_j) v_j / Σ_j φ(q_i)ᵀφ(k_j), loops over i, j
    fq, fk = F.elu(q) + 1, F.elu(k) + 1
    out = torch.empty(q.shape[:-1] + (v.shape[-1],), dtype=q.dtype)
    for i in range(q.shape[-2]):
        js = range(i + 1) if causal else range(k.shape[-2])
        w = torch.stack([(fq[..., i, :] * fk[..., j, :]).sum(-1) for j in js], -1)      # (..., |js|)
        out[..., i, :] = (w[..., None] * v[..., list(js), :]).sum(-2) / w.sum(-1, keepdim=True)
    return out


def test_elu_feature_map_is_positive_and_elu_plus_one():
    x = torch.linspace(-30, 5, 101, dtype=torch.float64)
    phi = elu_feature_map(x)
    assert (phi > 0).all()
    torch.testing.assert_close(phi, torch.where(x > 0, x + 1, x.exp()), **TOL)


@pytest.mark.parametrize("causal", [False, True])
def test_linear_attention_forms_equal_the_explicit_sum(causal):
    q, k, v = _qkv()
    ref = _explicit(q, k, v, causal)
    assert linear_attention(q, k, v, causal=causal).shape == (2, 3, 9, 5)
    torch.testing.assert_close(linear_attention(q, k, v, causal=causal), ref, **TOL)
    h, w = kernel_attention(q, k, v, causal=causal)
    torch.testing.assert_close(h, ref, **TOL)
    torch.testing.assert_close(w.sum(-1), torch.ones(2, 3, 9, dtype=torch.float64), **TOL)
    if causal:
        assert (w[..., ~causal_mask(9)] == 0).all()
        torch.testing.assert_close(linear_attention_recurrent(q, k, v), ref, **TOL)


def test_linear_attention_cross_attention_shapes():
    q, k, v = _qkv(b=(), n=4, m=11)
    assert linear_attention(q, k, v).shape == (4, 5)
    torch.testing.assert_close(linear_attention(q, k, v), kernel_attention(q, k, v)[0], **TOL)


@pytest.mark.parametrize("causal", [False, True])
def test_exponential_kernel_gives_softmax_attention(causal):
    q, k, v = _qkv()
    h, _ = kernel_attention(q, k, v, kernel=exponential_kernel, causal=causal)
    torch.testing.assert_close(h, F.scaled_dot_product_attention(q, k, v, is_causal=causal), **TOL)


def test_linear_kernel_and_custom_feature_map():
    q, k, v = _qkv(b=(), n=5, m=6)
    relu1 = lambda x: F.relu(x) + 0.5  # noqa: E731
    ref = (F.relu(q) + 0.5) @ (F.relu(k) + 0.5).T
    torch.testing.assert_close(linear_kernel(q, k, feature_map=relu1), ref, **TOL)
    torch.testing.assert_close(linear_attention(q, k, v, feature_map=relu1), (ref / ref.sum(-1, keepdim=True)) @ v,
                               **TOL)


def test_linear_attention_step_carries_the_state():
    q, k, v = _qkv(b=(3,), n=6, m=6)
    h, state = linear_attention_step(q[:, 0], k[:, 0], v[:, 0])
    assert isinstance(state, LinearAttentionState) and state.s.shape == (3, 4, 5) and state.z.shape == (3, 4)
    torch.testing.assert_close(h, v[:, 0], **TOL)                          # one token: its own value
    for i in range(1, 6):
        h, state = linear_attention_step(q[:, i], k[:, i], v[:, i], state)
    torch.testing.assert_close(state.z, (F.elu(k) + 1).sum(1), **TOL)
    torch.testing.assert_close(state.s, (F.elu(k) + 1).transpose(1, 2) @ v, **TOL)
    torch.testing.assert_close(h, linear_attention(q, k, v, causal=True)[:, -1], **TOL)


def test_linear_attention_is_causal_by_jacobian():
    q, k, v = _qkv(b=(), n=6, m=6)
    jac = torch.autograd.functional.jacobian(lambda kk: linear_attention(q, kk, v, causal=True), k)   # (6, 5, 6, 4)
    future = ~causal_mask(6)
    assert jac.abs().amax(dim=(1, 3))[future].max() == 0
    assert jac.abs().amax(dim=(1, 3))[~future].min() > 0          # the past (and j = i) is read


def test_linear_block_and_char_transformer():
    torch.manual_seed(0)
    block = TransformerBlock(8, 2, attention="linear").double()
    x = torch.randn(3, 7, 8, dtype=torch.float64, generator=_gen(4))
    mask = causal_mask(7)
    w = block.attention_weights()
    heads = lambda t: t.unflatten(-1, (2, -1)).transpose(-3, -2)  # noqa: E731
    z = block.norm1(x)
    h = linear_attention(heads(z @ w.w_q + w.b_q), heads(z @ w.w_k + w.b_k), heads(z @ w.w_v + w.b_v), causal=True)
    torch.testing.assert_close(block.mha(block.norm1(x), mask=mask), h.transpose(-3, -2).flatten(-2) @ w.w_o + w.b_o,
                               **TOL)
    h_open = linear_attention(heads(z @ w.w_q + w.b_q), heads(z @ w.w_k + w.b_k), heads(z @ w.w_v + w.b_v))
    torch.testing.assert_close(block.mha(z), h_open.transpose(-3, -2).flatten(-2) @ w.w_o + w.b_o, **TOL)
    maps = block.attention_map(x, mask=mask)
    assert maps.shape == (3, 2, 7, 7) and (maps[..., ~mask] == 0).all()
    model = CharTransformer(11, 8, 2, 2, context=7, attention="linear")
    logits, _ = model(torch.randint(11, (2, 7), generator=_gen(5)))
    assert logits.shape == (2, 7, 11) and model.blocks[0].attention == "linear"


def test_linear_attention_bad_inputs_raise():
    q, k, v = _qkv(b=(), n=5, m=5)
    with pytest.raises(ValueError, match="same width"):
        linear_attention(q, k[:, :3], v)
    with pytest.raises(ValueError, match="same number of positions"):
        linear_attention(q, k, v[:4])
    with pytest.raises(ValueError, match="leading"):
        linear_attention(q[None], k, v)
    with pytest.raises(ValueError, match="as many queries as keys"):
        linear_attention(q[:3], k, v, causal=True)
    with pytest.raises(ValueError, match="causal must be a bool"):
        linear_attention(q, k, v, causal=1)
    with pytest.raises(ValueError, match="non-negative"):
        linear_attention(q, k, v, feature_map=F.elu)                       # elu alone goes negative
    with pytest.raises(ValueError, match="feature_map must be callable"):
        linear_attention(q, k, v, feature_map="elu")
    with pytest.raises(ValueError, match="leading shape"):
        linear_attention(q, k, v, feature_map=lambda x: x.sum())
    with pytest.raises(ValueError, match="zero normaliser"):
        linear_attention(q, k, v, feature_map=lambda x: torch.zeros_like(x))
    with pytest.raises(ValueError, match="q must have a floating dtype"):
        linear_attention(q.long(), k, v)
    with pytest.raises(ValueError, match="kernel must be non-negative"):
        kernel_attention(q, k, v, kernel=lambda a, b: a @ b.T)
    with pytest.raises(ValueError, match="kernel must return shape"):
        kernel_attention(q, k, v, kernel=lambda a, b: a @ b.T[:, :2])
    with pytest.raises(ValueError, match="positive total weight"):
        kernel_attention(q, k, v, kernel=lambda a, b: torch.zeros(5, 5, dtype=a.dtype))
    with pytest.raises(ValueError, match="state must be"):
        linear_attention_step(q[0], k[0], v[0], LinearAttentionState(torch.zeros(2, 2), torch.zeros(2)))
    with pytest.raises(ValueError, match="q and k must have the same shape"):
        linear_attention_step(q[0], k[0, :2], v[0])
    with pytest.raises(ValueError, match="attention must be"):
        TransformerBlock(8, 2, attention="performer")
    block = TransformerBlock(8, 2, attention="linear")
    x = torch.randn(5, 8)
    with pytest.raises(ValueError, match="causal mask"):
        block(x, mask=causal_mask(5).T)
    with pytest.raises(ValueError, match="bias must be None"):
        multi_head_attention(x, block.attention_weights(), 2, bias=torch.zeros(5, 5), attention="linear")
