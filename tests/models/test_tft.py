import torch
from models_testkit import DIMS
from numpy.testing import assert_allclose

from models.factory import example_inputs
from models.losses import causal_mask
from models.tft import TemporalFusionTransformer
from models.tft_layers import (
    GatedResidualNetwork,
    InterpretableMultiHeadAttention,
    PerVariableGRN,
    VariableEmbedding,
    VariableSelectionNetwork,
)

L = 12


def make_tft(**kw) -> TemporalFusionTransformer:
    params = dict(hidden_size=16, num_heads=4, lstm_layers=2, dropout=0.0) | kw
    return TemporalFusionTransformer(DIMS, **params).eval()


class TestInterpretableMultiHeadAttention:
    def test_has_one_value_projection_shared_by_all_heads(self):
        attn = InterpretableMultiHeadAttention(16, 4)
        assert isinstance(attn.v_proj, torch.nn.Linear) and attn.v_proj.out_features == 4
        assert len(attn.q_proj) == len(attn.k_proj) == 4

    def test_output_is_the_mean_of_heads_applied_to_the_shared_values(self):
        attn = InterpretableMultiHeadAttention(16, 4).eval()
        x = torch.randn(2, 5, 16)
        out, weights = attn(x, x, x, causal_mask(5))
        value = attn.v_proj(x)
        manual = attn.out_proj(torch.stack([weights[:, h] @ value for h in range(4)]).mean(0))
        torch.testing.assert_close(out, manual)

    def test_weights_are_zero_above_the_diagonal(self):
        attn = InterpretableMultiHeadAttention(16, 2).eval()
        x = torch.randn(3, 6, 16)
        _, weights = attn(x, x, x, causal_mask(6))
        assert weights.masked_select(causal_mask(6)).abs().max().item() == 0.0


class TestPerVariableGRN:
    def test_matches_separate_grns_with_the_same_weights(self):
        batched = PerVariableGRN(3, 8).eval()
        with torch.no_grad():
            for p in batched.parameters():
                p.normal_()
        separate = []
        for j in range(3):
            grn = GatedResidualNetwork(8, 8, 8).eval()
            with torch.no_grad():
                # nn.Linear stores (out, in); the batched weights are (in, out) per variable
                grn.fc_in.weight.copy_(batched.w_in[j].T)
                grn.fc_in.bias.copy_(batched.b_in[j, 0])
                grn.fc_hidden.weight.copy_(batched.w_hidden[j].T)
                grn.fc_hidden.bias.copy_(batched.b_hidden[j, 0])
                grn.gate_norm.glu.gate.weight.copy_(batched.w_gate[j].T)
                grn.gate_norm.glu.gate.bias.copy_(batched.b_gate[j, 0])
                grn.gate_norm.glu.value.weight.copy_(batched.w_value[j].T)
                grn.gate_norm.glu.value.bias.copy_(batched.b_value[j, 0])
                grn.gate_norm.norm.weight.copy_(batched.norm_weight[j, 0])
                grn.gate_norm.norm.bias.copy_(batched.norm_bias[j, 0])
            separate.append(grn)
        x = torch.randn(3, 10, 8)  # variable-major: (M, N, d)
        expected = torch.stack([separate[j](x[j]) for j in range(3)])
        torch.testing.assert_close(batched(x), expected)


class TestVariableSelectionNetwork:
    def test_weights_sum_to_one_over_variables(self):
        vsn = VariableSelectionNetwork(5, 4, 8, 0.0, d_context=8)
        x = VariableEmbedding(5, 4)(torch.randn(3, 7, 5))
        selected, weights = vsn(x, (3, 7), torch.randn(3, 1, 8))
        assert selected.shape == (3, 7, 8) and weights.shape == (3, 7, 5)
        assert_allclose(weights.sum(-1).detach().numpy(), 1.0, rtol=1e-6)

    def test_selected_is_the_weighted_sum_of_each_variable_widened_on_its_own(self):
        torch.manual_seed(0)
        vsn = VariableSelectionNetwork(5, 4, 8, 0.0, d_context=8).eval()
        with torch.no_grad():
            vsn.widen_bias.normal_()
        x = VariableEmbedding(5, 4)(torch.randn(3, 7, 5))
        selected, weights = vsn(x, (3, 7), torch.randn(3, 1, 8))
        processed = vsn.var_grns(x).reshape(5, 3, 7, 4)
        widen = vsn.widen.reshape(5, 4, 8)
        widened = torch.stack([processed[j] @ widen[j] + vsn.widen_bias[j] for j in range(5)], -2)
        expected = (weights.unsqueeze(-1) * widened).sum(-2)  # (B, T, D), the paper's sum
        torch.testing.assert_close(selected, expected)

    def test_embedding_is_a_separate_linear_map_per_variable(self):
        emb = VariableEmbedding(3, 4)
        x = torch.randn(2, 5, 3)
        out = emb(x).reshape(3, 2, 5, 4)
        for j in range(3):
            expected = x[..., j, None] * emb.weight[j, 0] + emb.bias[j, 0]
            torch.testing.assert_close(out[j], expected)


class TestTemporalFusionTransformer:
    def test_returns_quantiles_and_interpretation_with_documented_shapes(self):
        model = make_tft()
        out = model.forward_with_interpretation(*example_inputs(DIMS, 3, L))
        k, s = DIMS.n_targets, L + DIMS.n_targets
        assert out.quantiles.shape == (3, k, DIMS.n_quantiles)
        assert out.attention.shape == (3, 4, k, s)  # decoder positions query all positions
        assert_allclose(out.attention.sum(-1).detach().numpy(), 1.0, rtol=1e-6)
        assert out.temporal.shape == (3, s, 16)
        assert out.past_weights.shape == (3, L, DIMS.n_past)
        assert out.future_weights.shape == (3, k, DIMS.n_future)
        assert_allclose(out.past_weights.sum(-1).detach().numpy(), 1.0, rtol=1e-6)
        assert_allclose(out.future_weights.sum(-1).detach().numpy(), 1.0, rtol=1e-6)
        assert (out.quantiles.diff(dim=-1) > 0).all()

    def test_changing_a_past_input_changes_no_earlier_position(self):
        model = make_tft()
        past, future, static = example_inputs(DIMS, 2, L)
        for t in (3, 7, L - 1):
            changed = past.clone()
            changed[:, t:] += torch.randn_like(changed[:, t:]) * 5
            a = model.forward_with_interpretation(past, future, static).temporal
            b = model.forward_with_interpretation(changed, future, static).temporal
            torch.testing.assert_close(a[:, :t], b[:, :t], rtol=0, atol=1e-6)
            assert (a[:, t] - b[:, t]).abs().max() > 1e-4  # the test can fail

    def test_decoder_slot_attends_to_no_later_slot(self):
        out = make_tft().forward_with_interpretation(*example_inputs(DIMS, 2, L))
        blocked = causal_mask(L + DIMS.n_targets, queries=DIMS.n_targets)
        assert blocked.sum() > 0  # the test can fail
        assert out.attention.masked_select(blocked).abs().max().item() == 0.0
        assert (out.attention.masked_select(~blocked) > 0).all()

    def test_a_later_decoder_slot_does_not_change_earlier_slots(self):
        model = make_tft()
        past, future, static = example_inputs(DIMS, 2, L)
        changed = future.clone()
        changed[:, 2:] += 3.0
        a, b = model(past, future, static), model(past, changed, static)
        torch.testing.assert_close(a[:, :2], b[:, :2], rtol=0, atol=1e-6)
        assert (a[:, 2:] - b[:, 2:]).abs().max() > 1e-4

    def test_gradient_checkpointing_gives_the_same_gradients(self):
        grads = []
        for flag in (False, True):
            torch.manual_seed(1)
            model = make_tft().train()
            model.grad_checkpointing = flag
            model(*example_inputs(DIMS, 4, L)).sum().backward()
            grads.append(
                torch.cat([p.grad.flatten() for p in model.parameters() if p.grad is not None])
            )
        torch.testing.assert_close(grads[0], grads[1])

    def test_selected_past_is_per_time_step_and_gives_the_same_forecast(self):
        model = make_tft()
        past, future, static = example_inputs(DIMS, 3, L)
        with torch.no_grad():
            selected, weights = model.select_past(past, static)
            for t in (0, 5, L - 1):  # one step on its own: the same numbers as in the window
                step, step_w = model.select_past(past[:, t : t + 1], static)
                torch.testing.assert_close(step[:, 0], selected[:, t], rtol=1e-6, atol=1e-7)
                torch.testing.assert_close(step_w[:, 0], weights[:, t], rtol=1e-6, atol=1e-7)
            out = model.forward_with_interpretation(past, future, static)
            given = model.forward_with_interpretation(past, future, static, (selected, weights))
        assert torch.equal(given.quantiles, out.quantiles)
        assert torch.equal(given.past_weights, out.past_weights)
        other, _ = model.select_past(past, static.roll(1))  # the symbol is an input of the stage
        assert (other - selected).abs().max() > 1e-4
