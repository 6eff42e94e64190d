import onnx
import pytest
from models_testkit import DIMS, TINY_MODELS

from models.config import HybridConfig, LSTMConfig, TFTConfig
from models.export import check_onnx, export_onnx
from models.factory import build_model, example_inputs

CONFIGS = {"tft": TFTConfig, "lstm": LSTMConfig, "hybrid": HybridConfig}


class TestExportOnnx:
    @pytest.mark.parametrize("name", list(TINY_MODELS))
    def test_matches_eager_within_1e4_at_another_batch_size(self, name, tmp_path):
        cfg = CONFIGS[name.split("_")[0]].model_validate(TINY_MODELS[name])
        model = build_model(cfg, DIMS)
        path = export_onnx(model, tmp_path / f"{name}.onnx", example_inputs(DIMS, 2, 10))
        graph = onnx.load(str(path))
        assert graph.opset_import[0].version >= 17
        assert graph.graph.input[0].type.tensor_type.shape.dim[0].dim_param == "batch"
        assert check_onnx(model, path, example_inputs(DIMS, 7, 10, seed=3)) < 1e-4

    def test_refuses_an_old_opset(self, tmp_path):
        model = build_model(TFTConfig.model_validate(TINY_MODELS["tft"]), DIMS)
        with pytest.raises(ValueError, match="opset"):
            export_onnx(model, tmp_path / "m.onnx", example_inputs(DIMS, 2, 10), opset=13)
