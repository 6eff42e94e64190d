import pytest
import torch
from models_testkit import DIMS, TINY_MODELS

from models.config import HYBRID_PRESETS, HybridConfig, LSTMConfig
from models.factory import ModelDims, build_model, count_parameters, example_inputs

L = 12


def tiny(name: str) -> torch.nn.Module:
    cfg = {"lstm": LSTMConfig, "hybrid": HybridConfig}[name.split("_")[0]]
    return build_model(cfg.model_validate(TINY_MODELS[name]), DIMS).eval()


class TestCausalEncoders:
    @pytest.mark.parametrize("name", ["lstm_vanilla", "lstm_stacked", "hybrid"])
    def test_changing_step_t_changes_no_output_before_t(self, name):
        model = tiny(name)
        past = torch.randn(2, L, DIMS.n_past)
        for t in (2, 6, L - 1):
            changed = past.clone()
            changed[:, t:] += 5 * torch.randn_like(changed[:, t:])
            a, b = model.encode(past), model.encode(changed)
            torch.testing.assert_close(a[:, :t], b[:, :t], rtol=0, atol=1e-6)
            assert (a[:, t] - b[:, t]).abs().max() > 1e-4

    def test_bidirectional_lstm_reads_the_whole_window_but_nothing_after_it(self):
        model = tiny("lstm_bidirectional")
        past, future, static = example_inputs(DIMS, 2, L)
        changed = past.clone()
        changed[:, 0] += 5.0  # the window start reaches the forecast via the backward pass
        assert (model(past, future, static) - model(changed, future, static)).abs().max() > 1e-5
        assert model.lstm.bidirectional


class TestQuantileOutputs:
    @pytest.mark.parametrize(
        "name", ["lstm_vanilla", "lstm_stacked", "lstm_bidirectional", "hybrid"]
    )
    def test_outputs_are_non_crossing_with_one_row_per_target(self, name):
        out = tiny(name)(*example_inputs(DIMS, 5, L))
        assert out.shape == (5, DIMS.n_targets, DIMS.n_quantiles)
        assert (out.diff(dim=-1) > 0).all()


class TestHybridPresets:
    @pytest.mark.parametrize(
        ("preset", "low", "high"), [("100m", 90e6, 130e6), ("500m", 480e6, 600e6)]
    )
    def test_parameter_count_matches_the_name_without_allocating(self, preset, low, high):
        dims = ModelDims(n_past=23, n_future=6, n_symbols=20, n_targets=4, n_quantiles=3)
        with torch.device("meta"):
            model = build_model(HybridConfig(preset=preset), dims)
        assert all(p.is_meta for p in model.parameters())
        assert low <= count_parameters(model) <= high

    def test_preset_fills_sizes_and_explicit_fields_win(self):
        cfg = HybridConfig(preset="100m", transformer_layers=6)
        assert cfg.d_model == HYBRID_PRESETS["100m"]["d_model"]
        assert cfg.transformer_layers == 6

    def test_gradient_checkpointing_gives_the_same_gradients(self):
        grads = []
        for flag in (False, True):
            torch.manual_seed(1)
            model = tiny("hybrid").train()
            model.grad_checkpointing = flag
            model(*example_inputs(DIMS, 4, L)).sum().backward()
            grads.append(
                torch.cat([p.grad.flatten() for p in model.parameters() if p.grad is not None])
            )
        torch.testing.assert_close(grads[0], grads[1])
