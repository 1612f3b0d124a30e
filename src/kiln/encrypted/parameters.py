"""CKKS parameters at 128-bit security, chosen for a model's multiplicative depth.

The HE standard (homomorphicencryption.org, 2018) bounds the total coefficient modulus for 128-bit
classical security with a ternary secret: 218 bits at poly modulus degree 8192, 438 at 16384, 881 at
32768. A chain is ``[special, scale × depth, special]``: one prime consumed per multiplication, the
outer primes keep the result's integer part and the key switching's noise small. SEAL refuses any
chain above the bound when the context is made, so a context here is 128-bit secure or not made.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from kiln.errors import InvalidSpec

MAX_MODULUS_BITS = {8192: 218, 16384: 438, 32768: 881}  # 128-bit security, HE standard table 1
# (degree, outer prime bits, scale bits) tried in order; the first chain within the bound wins
_CANDIDATES = ((8192, 60, 40), (8192, 54, 36), (16384, 60, 40), (32768, 60, 40))


@dataclass(frozen=True)
class CkksParameters:
    poly_modulus_degree: int
    coeff_mod_bit_sizes: tuple[int, ...]
    scale_bits: int

    @property
    def slots(self) -> int:
        return self.poly_modulus_degree // 2

    @property
    def modulus_bits(self) -> int:
        return sum(self.coeff_mod_bit_sizes)

    def to_json(self) -> dict[str, Any]:
        return {
            "scheme": "ckks",
            "poly_modulus_degree": self.poly_modulus_degree,
            "coeff_mod_bit_sizes": list(self.coeff_mod_bit_sizes),
            "scale_bits": self.scale_bits,
            "security_bits": 128,
        }

    @classmethod
    def from_json(cls, data: Any) -> CkksParameters:
        try:
            parameters = cls(
                int(data["poly_modulus_degree"]),
                tuple(int(b) for b in data["coeff_mod_bit_sizes"]),
                int(data["scale_bits"]),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise InvalidSpec(f"the deployment's CKKS parameters are malformed: {exc}") from exc
        bound = MAX_MODULUS_BITS.get(parameters.poly_modulus_degree)
        if bound is None or parameters.modulus_bits > bound:
            raise InvalidSpec(f"CKKS parameters {parameters.to_json()} are not 128-bit secure")
        return parameters


def for_depth(depth: int) -> CkksParameters:
    """The smallest 128-bit secure chain with ``depth`` multiplications."""
    for degree, outer, scale in _CANDIDATES:
        chain = (outer, *([scale] * depth), outer)
        if sum(chain) <= MAX_MODULUS_BITS[degree]:
            return CkksParameters(degree, chain, scale)
    raise InvalidSpec(
        f"a model of multiplicative depth {depth} needs a CKKS chain longer than 128-bit security allows at "
        "poly modulus degree 32768; use fewer layers"
    )
