"""12-lead classifiers ``resnet1d`` (Ribeiro et al. 2020) and ``se_resnet1d`` (Zhao et al. 2020).

Default configurations (counted in ``test_default_parameter_counts``):

- ``resnet1d``: 6,783,910 parameters (27.1 MB float32) with 12 leads and 6 classes;
- ``se_resnet1d``: 8,836,772 parameters (35.3 MB float32) with 12 leads and 24 classes.

CPU variants used by most tests: ``resnet1d(width_mult=0.375)`` (961,378 parameters) and
``se_resnet1d(width=16)`` (559,044 parameters).
"""

from __future__ import annotations

import contextlib
import io
import itertools
import logging
import warnings
from pathlib import Path

import pytest
import torch
from torch import nn

from ecglab.errors import ConfigError, LeadError
from ecglab.export.onnx import check_parity
from ecglab.models import create_model, list_models
from ecglab.models.resnet1d import ResNet1d, _CeilMaxPool1d
from ecglab.models.se_resnet1d import SEResNet1d, _MaxPool1d

SMALL = {"resnet1d": {"width_mult": 0.375}, "se_resnet1d": {"width": 16}}
NAMES = sorted(SMALL)


def small(name: str, **kwargs: object) -> nn.Module:
    torch.manual_seed(0)
    return create_model(name, **{**SMALL[name], **kwargs})


def n_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


# ----------------------------------------------------------------------------------------------
# Registry and arguments
# ----------------------------------------------------------------------------------------------


def test_both_models_are_registered() -> None:
    assert {"resnet1d", "se_resnet1d"} <= set(list_models())
    assert isinstance(create_model("resnet1d", n_classes=3), ResNet1d)
    assert isinstance(create_model("se_resnet1d", n_classes=3, width=8), SEResNet1d)


@pytest.mark.parametrize("name", NAMES)
def test_unknown_argument_is_a_config_error_with_a_hint(name: str) -> None:
    with pytest.raises(ConfigError, match=r"model.params.n_clases: .*did you mean 'n_classes'"):
        create_model(name, n_clases=3)


@pytest.mark.parametrize(
    ("name", "kwargs", "message"),
    [
        ("resnet1d", {"kernel_size": 16}, "kernel_size must be odd"),
        ("resnet1d", {"downsample": [4, 4]}, "downsample: need 4 factors"),
        ("resnet1d", {"dropout": 1.0}, "dropout must be in"),
        ("se_resnet1d", {"layers": []}, "layers: need >= 1 stage"),
        ("se_resnet1d", {"stem_kernel": 14}, "stem_kernel must be odd"),
        ("se_resnet1d", {"in_leads": 0}, "in_leads must be >= 1"),
    ],
)
def test_bad_sizes_are_config_errors(name: str, kwargs: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        create_model(name, **kwargs)


def test_default_parameter_counts() -> None:
    """Counts from the layer sizes by hand: 6,783,910 (resnet1d) and 8,836,772 (se_resnet1d)."""
    # resnet1d: stem conv + BN; per unit two k=17 convs, two BNs, a 1x1 skip conv; dense on avg+max.
    chans = [64, 128, 196, 256, 320]
    expected = 12 * 64 * 17 + 2 * 64
    for ci, co in itertools.pairwise(chans):
        expected += ci * co * 17 + co * co * 17 + 4 * co + ci * co
    expected += 2 * 320 * 6 + 6
    assert expected == 6_783_910
    assert n_params(create_model("resnet1d")) == expected

    # se_resnet1d: lead weights, stem conv + BN; basic blocks of two k=7 convs, two BNs, SE (c -> c/16
    # -> c), and a 1x1 conv + BN shortcut at the first block of stages 2-4; dense on the average.
    expected = 12 + 12 * 64 * 15 + 2 * 64
    ci = 64
    for co in (64, 128, 256, 512):
        for b in range(2):
            expected += ci * co * 7 + co * co * 7 + 4 * co + 2 * co * (co // 16)
            if b == 0 and ci != co:
                expected += ci * co + 2 * co
            ci = co
    expected += 512 * 24 + 24
    assert expected == 8_836_772
    assert n_params(create_model("se_resnet1d")) == expected


def test_small_variants_fit_cpu_training() -> None:
    assert n_params(small("resnet1d")) == 961_378
    assert n_params(small("se_resnet1d")) == 559_044


# ----------------------------------------------------------------------------------------------
# Shapes
# ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("length", [1000, 2500, 5000, 1234])
def test_default_model_output_shape_for_any_length(name: str, length: int) -> None:
    model = create_model(name, n_classes=7).eval()
    with torch.inference_mode():
        out = model(torch.randn(1, 12, length))
    assert out.shape == (1, 7)
    assert torch.isfinite(out).all()


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("leads", [12, 6, 2, 1])
def test_output_shape_for_lead_counts(name: str, leads: int) -> None:
    model = small(name, in_leads=leads, n_classes=4).eval()
    assert (model.in_leads, model.n_classes) == (leads, 4)
    with torch.inference_mode():
        assert model(torch.randn(3, leads, 1234)).shape == (3, 4)
    with pytest.raises(LeadError, match=rf"expected a \[batch, {leads} leads, samples\]"):
        model(torch.randn(3, leads + 1, 1234))


@pytest.mark.parametrize(("name", "stride", "dim"), [("resnet1d", 256, 320), ("se_resnet1d", 32, 512)])
def test_features_shape_and_stride_of_defaults(name: str, stride: int, dim: int) -> None:
    model = create_model(name).eval()
    assert (model.feature_stride, model.feature_dim) == (stride, dim)
    with torch.inference_mode():
        for length in (4096, 5120, 1000, 1234):
            f = model.features(torch.randn(1, 12, length))
            # Divisible lengths give T / stride exactly; others ceil(T / stride).
            assert f.shape == (1, dim, -(-length // stride))
        assert model.features(torch.randn(1, 12, 4096)).shape[-1] == 4096 // stride


def test_resnet1d_short_input_configuration() -> None:
    model = create_model("resnet1d", downsample=(2, 2, 2, 2), width_mult=0.25).eval()
    assert model.feature_stride == 16
    assert model.feature_dim == 80  # round(320 * 0.25)
    with torch.inference_mode():
        assert model.features(torch.randn(2, 12, 800)).shape == (2, 80, 50)


@pytest.mark.parametrize("stride", [2, 4, 5])
def test_resnet1d_skip_pool_matches_torch_ceil_mode_max_pool(stride: int) -> None:
    x = torch.randn(2, 3, 40)
    for length in range(1, 40):
        expected = nn.functional.max_pool1d(x[..., :length], stride, stride, ceil_mode=True)
        torch.testing.assert_close(_CeilMaxPool1d(stride)(x[..., :length]), expected, rtol=0, atol=0)


def test_se_resnet1d_stem_pool_matches_torch_max_pool1d() -> None:
    x = torch.randn(2, 3, 41)
    for length in (3, 10, 41):
        expected = nn.functional.max_pool1d(x[..., :length], 3, 2, 1)
        torch.testing.assert_close(_MaxPool1d(3, 2, 1)(x[..., :length]), expected, rtol=0, atol=0)


# ----------------------------------------------------------------------------------------------
# Demographics and lead weights
# ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", NAMES)
def test_demographics_enter_the_output(name: str) -> None:
    model = small(name, n_demo=2, n_classes=3).eval()
    x = torch.randn(4, 12, 1000)
    demo = torch.tensor([[0.5, 1.0]] * 4)
    with torch.inference_mode():
        a = model(x, demo)
        b = model(x, demo + torch.tensor([0.3, -1.0]))
        # The dense layer is linear in demo: the change equals W_demo @ delta for every record.
        w_demo = model.fc.weight[:, -2:]
        torch.testing.assert_close(b - a, (w_demo @ torch.tensor([0.3, -1.0])).expand(4, 3))
    assert a.shape == (4, 3)
    with pytest.raises(ConfigError, match="built with n_demo=2: pass demo"):
        model(x)
    with pytest.raises(ConfigError, match=r"demo must be \[batch, 2\]"):
        model(x, torch.zeros(4, 3))


def test_lead_weights_start_at_one_and_receive_gradients() -> None:
    model = small("se_resnet1d", in_leads=6, n_classes=2).train()
    torch.testing.assert_close(model.lead_weights(), torch.ones(6))
    loss = nn.functional.binary_cross_entropy_with_logits(model(torch.randn(4, 6, 500)), torch.ones(4, 2))
    loss.backward()
    grad = model.lead_weight.grad
    assert grad is not None and grad.shape == (6,)
    assert (grad.abs() > 0).all()


def test_lead_weights_scale_the_leads() -> None:
    model = small("se_resnet1d", n_classes=3).eval()
    with torch.no_grad():
        model.lead_weight[4] = 0.0
    x = torch.randn(2, 12, 800)
    x_changed = x.clone()
    x_changed[:, 4] += torch.randn(2, 800)  # a lead with zero weight cannot change the output
    with torch.inference_mode():
        torch.testing.assert_close(model(x), model(x_changed))
        assert not torch.allclose(model(x), model(x * 2))
    assert model.lead_weights()[4] == 0.0
    assert model.lead_weights().requires_grad is False


def test_lead_weighting_off_is_the_reference_network() -> None:
    model = small("se_resnet1d", lead_weighting=False)
    assert "lead_weight" not in dict(model.named_parameters())
    torch.testing.assert_close(model.lead_weights(), torch.ones(12))
    assert n_params(model) == n_params(small("se_resnet1d")) - 12


# ----------------------------------------------------------------------------------------------
# Training
# ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", NAMES)
def test_tiny_overfit_reduces_the_loss(name: str) -> None:
    torch.manual_seed(0)
    model = small(name, n_classes=3, dropout=0.0, n_demo=1).train()
    x, demo = torch.randn(8, 12, 500), torch.randn(8, 1)
    y = (torch.rand(8, 3) > 0.5).float()
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    losses = []
    for _ in range(15):
        opt.zero_grad()
        loss = nn.functional.binary_cross_entropy_with_logits(model(x, demo), y)
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.5 * losses[0], losses


# ----------------------------------------------------------------------------------------------
# ONNX
# ----------------------------------------------------------------------------------------------


def export_dynamic(model: nn.Module, path: Path, length: int) -> Path:
    """Export with dynamic batch and time axes (``export_onnx`` makes the batch axis dynamic only)."""
    inputs = model.example_inputs(batch=2, length=length)
    batch = torch.export.Dim("batch", min=1)
    shapes = ({0: batch, 2: torch.export.Dim("time", min=16, max=200_000)}, {0: batch})[: len(inputs)]
    logging.getLogger("torch.onnx").setLevel(logging.ERROR)
    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
        warnings.simplefilter("ignore")
        program = torch.onnx.export(
            model.eval(),
            inputs,
            input_names=["signal", "demo"][: len(inputs)],
            output_names=["logits"],
            dynamic_shapes=shapes,
            dynamo=True,
        )
    program.save(str(path))
    return path


@pytest.mark.slow  # ~7-10 s per model on 2 shared cores, almost all of it in torch.onnx.export
@pytest.mark.parametrize("name", NAMES)
def test_onnx_parity_at_other_lengths_and_batches(name: str, tmp_path: Path) -> None:
    model = small(name, n_demo=2, n_classes=5)
    with torch.no_grad():  # a few training-mode batches give BatchNorm non-trivial running statistics
        for _ in range(3):
            model.train()(torch.randn(8, 12, 1024) * 2 + 0.3, torch.randn(8, 2))
    path = export_dynamic(model, tmp_path / f"{name}.onnx", length=2048)
    for batch, length in ((3, 1234), (1, 5000), (5, 1000)):
        inputs = {"signal": torch.randn(batch, 12, length), "demo": torch.randn(batch, 2)}
        report = check_parity(model, path, inputs, atol=1e-4)
        assert report.ok, (batch, length, report.max_abs_diff)
