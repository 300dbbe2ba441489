"""dlnotes.attention's transformer blocks against torch.nn.TransformerEncoderLayer in float64, the
causality of CharTransformer, its CharModel-compatible interface, and the bad-input contract."""
import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from dlnotes.attention import CharTransformer, TransformerBlock, causal_mask
from dlnotes.metrics import char_cross_entropy
from dlnotes.recurrent import sample

# float64, O(1) values: independent code paths differ by a few ulps; 1e-12 is far below a misplaced
# norm or residual (order 1).
TOL = dict(rtol=0, atol=1e-12)


def _layer(norm_first, activation="gelu", d=16, heads=4, ff=40, seed=0):
    torch.manual_seed(seed)
    return nn.TransformerEncoderLayer(d, heads, ff, dropout=0.0, activation=activation, batch_first=True,
                                      norm_first=norm_first).double().eval()


@pytest.mark.parametrize("norm_first", [False, True])
@pytest.mark.parametrize("activation", ["relu", "gelu", F.gelu])
def test_block_equals_transformer_encoder_layer(norm_first, activation):
    layer = _layer(norm_first, activation)
    block = TransformerBlock.from_torch(layer)
    assert block.pre_norm is norm_first and block.in_proj.weight.dtype == torch.float64
    x = torch.randn(3, 7, 16, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    mask = causal_mask(7)
    with torch.no_grad():
        torch.testing.assert_close(block(x), layer(x), **TOL)
        torch.testing.assert_close(block(x, mask=mask), layer(x, src_mask=~mask), **TOL)
        # the other norm placement with the same weights is a different function
        block.pre_norm = not norm_first
        assert (block(x) - layer(x)).abs().max() > 1e-2


def test_block_unbatched_and_gradients_reach_attention_weights():
    block = TransformerBlock(8, 2).double()
    x = torch.randn(5, 8, dtype=torch.float64)
    y = block(x, mask=causal_mask(5))
    assert y.shape == (5, 8)
    y.sum().backward()
    assert block.in_proj.weight.grad is not None and block.in_proj.weight.grad.abs().sum() > 0
    assert block.out_proj.weight.grad.abs().sum() > 0


def test_attention_map_is_causal_and_matches_the_block():
    block = TransformerBlock(8, 2, pre_norm=False).double()
    x = torch.randn(2, 6, 8, dtype=torch.float64)
    maps = block.attention_map(x, mask=causal_mask(6))
    assert maps.shape == (2, 2, 6, 6)
    torch.testing.assert_close(maps.sum(-1), torch.ones(2, 2, 6, dtype=torch.float64), **TOL)
    assert (maps[..., ~causal_mask(6)] == 0).all()
    # the weights are those of F.scaled_dot_product_attention's softmax: recompute H from them
    w = block.attention_weights()
    v = (x @ w.w_v + w.b_v).unflatten(-1, (2, -1)).transpose(-3, -2)
    h = (maps @ v).transpose(-3, -2).flatten(-2) @ w.w_o + w.b_o
    torch.testing.assert_close(h, block.mha(x, mask=causal_mask(6)), **TOL)


def test_char_transformer_is_causal_exactly():
    torch.manual_seed(0)
    model = CharTransformer(11, 16, 4, 2, context=8).double()
    x = model.embed(torch.randint(11, (1, 8))).detach()
    jac = torch.autograd.functional.jacobian(lambda e: model.features(e)[0], x)[:, :, 0]   # (8, 16, 8, 16)
    blocks = jac.abs().amax(dim=(1, 3))
    assert blocks[~causal_mask(8)].max() == 0.0
    assert blocks[causal_mask(8)].min() > 0
    open_jac = torch.autograd.functional.jacobian(lambda e: model.features(e, causal=False)[0], x)[:, :, 0]
    assert open_jac.abs().amax(dim=(1, 3))[~causal_mask(8)].min() > 0


def test_char_transformer_interface_state_sample_and_loss():
    torch.manual_seed(0)
    model = CharTransformer(7, 16, 2, 2, context=10)
    codes = torch.randint(7, (3, 10))
    logits, state = model(codes)
    assert logits.shape == (3, 10, 7) and state.shape == (3, 9)
    # feeding the codes one at a time with the state gives the same logits as all at once
    with torch.no_grad():
        full, _ = model(codes[:, :6])
        step, st = model(codes[:, :1])
        outs = [step]
        for t in range(1, 6):
            step, st = model(codes[:, t:t + 1], st)
            outs.append(step)
    torch.testing.assert_close(torch.cat(outs, 1), full, rtol=0, atol=1e-5)
    out = sample(model, torch.tensor([1, 2]), 25, temperature=0.8, generator=torch.Generator().manual_seed(0))
    assert out.shape == (25,) and int(out.max()) < 7
    val = torch.randint(7, (300,))
    model.train()
    assert abs(char_cross_entropy(model, val, length=10) - math.log(7)) < 0.5
    assert model.training


def test_post_norm_char_transformer_has_no_final_norm():
    model = CharTransformer(5, 8, 2, 1, context=4, pre_norm=False)
    assert isinstance(model.norm, nn.Identity) and not model.blocks[0].pre_norm
    assert isinstance(CharTransformer(5, 8, 2, 1, context=4).norm, nn.LayerNorm)


def test_bad_inputs_name_the_argument():
    with pytest.raises(ValueError, match="n_heads"):
        TransformerBlock(10, 3)                               # d not divisible by the heads
    with pytest.raises(ValueError, match="d must"):
        TransformerBlock(0, 1)
    with pytest.raises(ValueError, match="activation"):
        TransformerBlock(8, 2, activation="tanh")
    with pytest.raises(ValueError, match="pre_norm"):
        TransformerBlock(8, 2, pre_norm="yes")
    block = TransformerBlock(8, 2)
    with pytest.raises(ValueError, match="x must end"):
        block(torch.randn(4, 6))                              # mismatched model width
    with pytest.raises(ValueError, match="x must"):
        block(torch.randint(3, (4, 8)))                       # integer input
    with pytest.raises(ValueError, match="mask"):
        block(torch.randn(4, 8), mask=causal_mask(5))         # mask of the wrong shape
    with pytest.raises(ValueError, match="mask"):
        block(torch.randn(4, 8), mask=torch.ones(4, 4))       # not boolean
    with pytest.raises(ValueError, match="layer"):
        TransformerBlock.from_torch(nn.Linear(3, 3))
    with pytest.raises(ValueError, match="batch_first"):
        TransformerBlock.from_torch(nn.TransformerEncoderLayer(8, 2, 16))
    with pytest.raises(ValueError, match="activation"):
        TransformerBlock.from_torch(nn.TransformerEncoderLayer(8, 2, 16, batch_first=True, activation=torch.tanh))
    with pytest.raises(ValueError, match="eps"):
        TransformerBlock.from_torch(nn.TransformerEncoderLayer(8, 2, 16, batch_first=True, layer_norm_eps=1e-6))
    model = CharTransformer(5, 8, 2, 1, context=4)
    with pytest.raises(ValueError, match="context"):
        model(torch.randint(5, (2, 5)))                       # longer than the context
    with pytest.raises(ValueError, match="codes"):
        model(torch.randn(2, 3))
    with pytest.raises(ValueError, match="state"):
        model(torch.randint(5, (2, 2)), torch.randint(5, (3, 2)))
    with pytest.raises(ValueError, match="n_layers"):
        CharTransformer(5, 8, 2, 0, context=4)
    with pytest.raises(ValueError, match="context"):
        CharTransformer(5, 8, 2, 1, context=0)
    with pytest.raises(ValueError, match="n_heads"):
        CharTransformer(5, 9, 2, 1, context=4)
