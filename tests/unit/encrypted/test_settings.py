"""The deployment setting ``encryption``: bounded, exclusive with a scoring script and runtime: onnx; the
parameters chosen by depth are 128-bit secure; the capability is registered."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from kiln.capabilities.registry import BUILT_IN
from kiln.encrypted.parameters import MAX_MODULUS_BITS, CkksParameters, for_depth
from kiln.errors import InvalidSpec
from kiln.specs.endpoint import OnlineDeploymentSpec

BASE = {"name": "blue", "endpoint_name": "digits", "model": "kiln:digits-linear@1"}


def test_encryption_is_a_deployment_setting_with_bounds() -> None:
    spec = OnlineDeploymentSpec.model_validate({**BASE, "encryption": {"scheme": "ckks", "max_contexts": 4}})
    assert spec.encryption is not None and spec.encryption.max_contexts == 4
    for bad in ({"scheme": "bfv"}, {"max_request_mb": 0}, {"max_contexts": 10**6}, {"unknown": 1}):
        with pytest.raises(ValidationError):
            OnlineDeploymentSpec.model_validate({**BASE, "encryption": bad})


@pytest.mark.parametrize(
    "extra",
    [{"runtime": "onnx"}, {"code_configuration": {"code": "src", "scoring_script": "score.py"}}],
)
def test_encryption_excludes_scripts_and_onnx(extra: dict[str, object]) -> None:
    with pytest.raises(ValidationError, match="encryption scores the model's own weights"):
        OnlineDeploymentSpec.model_validate({**BASE, **extra, "encryption": {"scheme": "ckks"}})


@pytest.mark.parametrize("depth", [1, 2, 3, 4, 7, 15])
def test_every_chain_is_within_the_128_bit_bound(depth: int) -> None:
    parameters = for_depth(depth)
    assert len(parameters.coeff_mod_bit_sizes) == depth + 2
    assert parameters.modulus_bits <= MAX_MODULUS_BITS[parameters.poly_modulus_degree]
    assert CkksParameters.from_json(parameters.to_json()) == parameters


def test_too_deep_a_model_and_insecure_parameters_are_refused() -> None:
    with pytest.raises(InvalidSpec, match="fewer layers"):
        for_depth(40)
    with pytest.raises(InvalidSpec, match="128-bit"):
        CkksParameters.from_json({"poly_modulus_degree": 8192, "coeff_mod_bit_sizes": [60] * 5, "scale_bits": 40})


def test_the_capability_is_built_in() -> None:
    assert "kiln.encrypted" in BUILT_IN
