import pytest
import torch

from vemtransfer.model.network import PAPER_WIDTHS, RSUNet, count_parameters


def test_paper_network_has_the_authors_parameter_count_and_shape():
    model = RSUNet(PAPER_WIDTHS)
    assert count_parameters(model) == 1_439_705
    with torch.no_grad():
        out = model.eval()(torch.zeros(1, 1, 18, 160, 160))
    assert out.shape == (1, 1, 18, 160, 160)


def test_narrow_network_keeps_shape_and_pools_only_in_yx():
    model = RSUNet((4, 8, 8, 16, 16), bn_momentum=0.1)
    assert model.yx_divisor == 8
    x = torch.randn(2, 1, 5, 48, 40)  # odd z is fine: z is never pooled
    assert model(x).shape == x.shape
    assert all(m.momentum == 0.1 for m in model.modules() if isinstance(m, torch.nn.BatchNorm3d))


def test_skips_are_added_not_concatenated():
    model = RSUNet((4, 6, 8))
    convs = [m for m in model.up.modules() if isinstance(m, torch.nn.Conv3d)]
    assert convs[0].in_channels == 6  # a concatenating decoder would see 6 + 6


def test_too_few_widths_is_an_error():
    with pytest.raises(ValueError, match="widths"):
        RSUNet((8, 16))
