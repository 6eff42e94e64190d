import numpy as np
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from numpy.testing import assert_allclose

from models.losses import causal_mask, masked_fill_min, monotone_quantiles, pinball_loss


class TestPinballLoss:
    def test_matches_hand_computed_values(self):
        pred = torch.tensor([[0.0, 1.0, 2.0], [1.0, 1.0, 1.0]])
        target = torch.tensor([1.5, 0.0])
        # row 0 errors 1.5, 0.5, -0.5 ; row 1 errors -1, -1, -1 at levels 0.1 / 0.5 / 0.9
        expected = np.mean([0.15, 0.25, 0.05, 0.9, 0.5, 0.1])
        assert_allclose(pinball_loss(pred, target, (0.1, 0.5, 0.9)).item(), expected, rtol=1e-6)

    def test_median_level_is_half_the_absolute_error(self):
        pred = torch.randn(50, 1)
        target = torch.randn(50)
        loss = pinball_loss(pred, target, (0.5,))
        assert_allclose(loss.item(), 0.5 * (target - pred[:, 0]).abs().mean().item(), rtol=1e-6)

    def test_is_computed_in_float32_under_bfloat16_inputs(self):
        pred = torch.randn(4, 3).bfloat16()
        loss = pinball_loss(pred, torch.randn(4).bfloat16(), (0.1, 0.5, 0.9))
        assert loss.dtype == torch.float32


class TestMonotoneQuantiles:
    @settings(max_examples=50, deadline=None)
    @given(st.lists(st.floats(-50, 50), min_size=3, max_size=3), st.integers(1, 5))
    def test_never_crosses_for_any_raw_output(self, raw, batch):
        out = monotone_quantiles(torch.tensor([raw] * batch))
        assert (out[:, 1:] >= out[:, :-1]).all()

    def test_keeps_the_first_output_and_adds_softplus_steps(self):
        out = monotone_quantiles(torch.tensor([[0.3, 0.0, 1.0]]))
        sp = np.log1p(np.exp([0.0, 1.0]))
        assert_allclose(out.numpy()[0], [0.3, 0.3 + sp[0], 0.3 + sp[0] + sp[1]], rtol=1e-6)


class TestMaskedFillMin:
    def test_fully_masked_rows_stay_finite_in_half_precision(self):
        for dtype in (torch.float16, torch.bfloat16, torch.float32):
            scores = torch.randn(4, 4, dtype=dtype)
            mask = causal_mask(4) | torch.tensor([True, False, False, False]).expand(4, 4)
            mask[0] = True  # first row fully masked
            probs = torch.softmax(masked_fill_min(scores, mask).float(), dim=-1)
            assert torch.isfinite(probs).all(), dtype
            assert_allclose(probs.sum(-1).numpy(), np.ones(4), rtol=1e-3)

    def test_causal_mask_blocks_only_the_future(self):
        mask = causal_mask(3)
        assert mask.tolist() == [[False, True, True], [False, False, True], [False, False, False]]

    def test_causal_mask_for_the_last_queries_keeps_their_rows(self):
        mask = causal_mask(4, queries=2)
        assert mask.tolist() == [[False, False, False, True], [False, False, False, False]]
