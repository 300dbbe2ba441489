"""dlnotes.recurrent: the notes' RNN, GRU and LSTM against PyTorch, BPTT, and the char model."""
import math

import pytest
import torch

from dlnotes import recurrent as R
from dlnotes.metrics import char_cross_entropy

D, H, T, N = 3, 5, 9, 4


def _inputs(seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(T, N, D, dtype=torch.float64, generator=g)
    h0 = torch.randn(N, H, dtype=torch.float64, generator=g)
    return x, h0


@pytest.mark.parametrize("nonlinearity", ["tanh", "relu"])
def test_rnn_equals_torch(nonlinearity):
    torch.manual_seed(0)
    module = torch.nn.RNN(D, H, nonlinearity=nonlinearity).double()
    x, h0 = _inputs()
    with torch.no_grad():
        ours = R.rnn(x, R.rnn_params_from_torch(module), h0, nonlinearity=nonlinearity)
        torch.testing.assert_close(ours, module(x, h0[None])[0], rtol=0, atol=1e-12)
        zero = R.rnn(x, R.rnn_params_from_torch(module), nonlinearity=nonlinearity)
        torch.testing.assert_close(zero, module(x)[0], rtol=0, atol=1e-12)


def test_gru_torch_equals_nn_gru_and_notes_form_differs():
    torch.manual_seed(0)
    module = torch.nn.GRU(D, H).double()
    x, h0 = _inputs()
    params = R.gru_params_from_torch(module)
    with torch.no_grad():
        reference = module(x, h0[None])[0]
        torch.testing.assert_close(R.gru_torch(x, params, h0), reference, rtol=0, atol=1e-12)
        assert (R.gru_notes(x, params, h0) - reference).abs().max() > 1e-3
        # with the reset gate saturated at 1 the two forms coincide
        open_gate = params._replace(b_r=torch.full((H,), 50.0, dtype=torch.float64))
        torch.testing.assert_close(R.gru_notes(x, open_gate, h0), R.gru_torch(x, open_gate, h0), rtol=0, atol=1e-12)


def test_lstm_equals_torch_after_gate_reordering():
    torch.manual_seed(0)
    module = torch.nn.LSTM(D, H).double()
    x, h0 = _inputs()
    c0 = torch.randn(N, H, dtype=torch.float64)
    with torch.no_grad():
        hs, cs = R.lstm(x, R.lstm_params_from_torch(module), h0, c0)
        out, (h_last, c_last) = module(x, (h0[None], c0[None]))
    torch.testing.assert_close(hs, out, rtol=0, atol=1e-12)
    torch.testing.assert_close(cs[-1], c_last[0], rtol=0, atol=1e-12)
    hs0, _ = R.lstm(x, R.lstm_params_from_torch(module))
    torch.testing.assert_close(hs0, module(x)[0].detach(), rtol=0, atol=1e-12)


def test_rnn_bptt_equals_autograd():
    torch.manual_seed(0)
    module = torch.nn.RNN(D, H).double()
    params = R.RNNParams(*(p.detach().clone().requires_grad_() for p in R.rnn_params_from_torch(module)))
    x, h0 = _inputs()
    h0.requires_grad_()
    weights = torch.randn(T, N, H, dtype=torch.float64)
    states = R.rnn(x, params, h0)
    loss = (weights * states).sum() + (states ** 2).sum()
    expected = torch.autograd.grad(loss, (*params, h0))
    with torch.no_grad():
        got = R.rnn_bptt(x, params, h0, states, weights + 2 * states)
    for a, b in zip(got, expected):
        torch.testing.assert_close(a, b, rtol=0, atol=1e-12)


def test_jacobian_product_against_autograd_and_bound():
    torch.manual_seed(0)
    params = R.rnn_params_from_torch(torch.nn.RNN(D, H).double())
    params = R.RNNParams(*(p.detach() for p in params))
    x, h0 = _inputs()
    norms, bounds = R.jacobian_product(x[:, :1], params, h0[:1])
    assert norms.shape == bounds.shape == (T, 1)
    full = torch.autograd.functional.jacobian(lambda h: R.rnn(x[:, :1], params, h)[-1], h0[:1])[0, :, 0, :]
    assert abs(norms[-1, 0] - torch.linalg.matrix_norm(full, ord=2)) < 1e-12
    assert (norms <= bounds * (1 + 1e-12)).all()


def test_char_model_sample_and_losses():
    torch.manual_seed(0)
    model = R.CharModel(7, 8, cell="lstm", embed=4)
    codes = torch.randint(7, (3, 5))
    logits, _ = model(codes)
    assert logits.shape == (3, 5, 7)
    g = torch.Generator().manual_seed(0)
    out = R.sample(model, torch.tensor([1, 2]), 6, temperature=0.7, generator=g)
    assert out.shape == (6,) and out.dtype == torch.int64 and int(out.max()) < 7
    # a near-zero temperature is greedy decoding
    greedy, prompt, state = [], torch.tensor([[3]]), None
    with torch.no_grad():
        for _ in range(5):
            step_logits, state = model(prompt, state)
            prompt = step_logits[:, -1].argmax(-1, keepdim=True)
            greedy.append(int(prompt))
    assert R.sample(model, torch.tensor([3]), 5, temperature=1e-4).tolist() == greedy
    val = torch.randint(7, (300,))
    # an untrained model is near uniform: about log 7 nats per character
    assert abs(char_cross_entropy(model, val, length=50) - math.log(7)) < 0.2
    assert model.training  # evaluation leaves the mode as it found it


def test_ngram_cross_entropy_closed_forms():
    train = torch.tensor([0, 1, 0, 1, 0, 1])
    val = torch.tensor([0, 1, 0])
    # unigram with add-one over V = 3: counts 3, 3, 0 become 4, 4, 1, so p(0) = p(1) = 4/9
    assert R.ngram_cross_entropy(train, val, 3, order=1) == pytest.approx(math.log(9 / 4))
    # bigram: counts 0->1: 3, 1->0: 2; add-one rows: p(1|0) = 4/6, p(0|1) = 3/5
    assert R.ngram_cross_entropy(train, val, 3, order=2) == pytest.approx(-(math.log(4 / 6) + math.log(3 / 5)) / 2)


@pytest.mark.parametrize("bad, match", [
    (dict(x=torch.zeros(T, D, dtype=torch.float64)), "x must have shape"),
    (dict(x=torch.zeros(T, N, D + 1, dtype=torch.float64)), "features"),
    (dict(h0=torch.zeros(N, H + 1, dtype=torch.float64)), "h0 must have shape"),
    (dict(x=torch.zeros(T, N, D, dtype=torch.int64)), "floating"),
])
def test_bad_inputs_name_the_argument(bad, match):
    torch.manual_seed(0)
    x, h0 = _inputs()
    args = dict(x=x, h0=h0) | bad
    rnn_params = R.RNNParams(*(p.detach() for p in R.rnn_params_from_torch(torch.nn.RNN(D, H).double())))
    gru_params = R.GRUParams(*(p.detach() for p in R.gru_params_from_torch(torch.nn.GRU(D, H).double())))
    lstm_params = R.LSTMParams(*(p.detach() for p in R.lstm_params_from_torch(torch.nn.LSTM(D, H).double())))
    for call in (lambda: R.rnn(args["x"], rnn_params, args["h0"]),
                 lambda: R.gru_notes(args["x"], gru_params, args["h0"]),
                 lambda: R.gru_torch(args["x"], gru_params, args["h0"]),
                 lambda: R.lstm(args["x"], lstm_params, args["h0"]),
                 lambda: R.jacobian_product(args["x"], rnn_params, args["h0"])):
        with pytest.raises(ValueError, match=match):
            call()


def test_mismatched_hidden_size_and_other_bad_arguments():
    x, h0 = _inputs()
    params = R.RNNParams(torch.zeros(D, H, dtype=torch.float64), torch.zeros(H + 1, H + 1, dtype=torch.float64),
                         torch.zeros(H, dtype=torch.float64))
    with pytest.raises(ValueError, match="recurrent weights"):
        R.rnn(x, params)
    good = params._replace(w_hh=torch.zeros(H, H, dtype=torch.float64))
    with pytest.raises(ValueError, match="nonlinearity"):
        R.rnn(x, good, nonlinearity="sigmoid")
    with pytest.raises(ValueError, match="states and grad_states"):
        R.rnn_bptt(x, good, h0, torch.zeros(T, N, H + 1, dtype=torch.float64), torch.zeros(T, N, H + 1, dtype=torch.float64))
    with pytest.raises(ValueError, match="GRUParams"):
        R.gru_notes(x, good)
    with pytest.raises(ValueError, match="LSTMParams"):
        R.lstm(x, good)
    with pytest.raises(ValueError, match="c0"):
        lstm_params = R.LSTMParams(*(p.detach() for p in R.lstm_params_from_torch(torch.nn.LSTM(D, H).double())))
        R.lstm(x, lstm_params, h0, torch.zeros(N, H + 2, dtype=torch.float64))
    with pytest.raises(ValueError, match="torch.nn.GRU"):
        R.gru_params_from_torch(torch.nn.LSTM(D, H))
    with pytest.raises(ValueError, match="one layer"):
        R.rnn_params_from_torch(torch.nn.RNN(D, H, num_layers=2))
    with pytest.raises(ValueError, match="cell"):
        R.CharModel(5, 4, cell="transformer")
    with pytest.raises(ValueError, match="hidden"):
        R.CharModel(5, 0)
    model = R.CharModel(5, 4)
    with pytest.raises(ValueError, match="codes"):
        model(torch.zeros(2, 3))
    with pytest.raises(ValueError, match="prompt"):
        R.sample(model, torch.tensor([], dtype=torch.int64), 3)
    with pytest.raises(ValueError, match="temperature"):
        R.sample(model, torch.tensor([1]), 3, temperature=0.0)
    with pytest.raises(ValueError, match="length"):
        R.sample(model, torch.tensor([1]), 0)
    with pytest.raises(ValueError, match="longer"):
        char_cross_entropy(model, torch.tensor([1, 2]), length=5)
    with pytest.raises(ValueError, match="order"):
        R.ngram_cross_entropy(torch.tensor([0, 1]), torch.tensor([0, 1]), 2, order=3)
    with pytest.raises(ValueError, match="train"):
        R.ngram_cross_entropy(torch.tensor([0.0, 1.0]), torch.tensor([0, 1]), 2)


def test_set_memory_bias_opens_the_keeping_gate():
    torch.manual_seed(0)
    lstm_module = torch.nn.LSTM(D, H).double()
    before = R.lstm_params_from_torch(lstm_module)
    R.set_memory_bias(lstm_module, 3.0)
    after = R.lstm_params_from_torch(lstm_module)
    torch.testing.assert_close(after.b_f - before.b_f, torch.full((H,), 3.0, dtype=torch.float64))
    torch.testing.assert_close(after.b_i, before.b_i)
    gru_module = torch.nn.GRU(D, H).double()
    before = R.gru_params_from_torch(gru_module)
    R.set_memory_bias(gru_module, 2.0)
    after = R.gru_params_from_torch(gru_module)
    torch.testing.assert_close(after.b_z - before.b_z, torch.full((H,), 2.0, dtype=torch.float64))
    torch.testing.assert_close(after.b_r, before.b_r)
    with pytest.raises(ValueError, match="LSTM or torch.nn.GRU"):
        R.set_memory_bias(torch.nn.RNN(D, H), 1.0)
    with pytest.raises(ValueError, match="value"):
        R.set_memory_bias(gru_module, "big")
