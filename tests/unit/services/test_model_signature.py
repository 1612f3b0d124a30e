"""A model's signature as kiln studio shows it, read from an MLmodel file (the browser test reads a real one)."""

from __future__ import annotations

from kiln.services.model_signature import Column, Signature, example_request, parse_signature

# as mlflow 3.17's sklearn.save_model writes it for a DataFrame input example
SKLEARN = """\
flavors:
  sklearn: {pickled_model: model.pkl}
signature:
  inputs: '[{"type": "double", "name": "petal_length", "required": true}, {"type": "double", "name": "petal_width", "required": true}]'
  outputs: '[{"type": "long", "required": true}]'
  params: null
"""


def test_columns_of_a_column_signature() -> None:
    signature = parse_signature(SKLEARN)
    assert signature is not None
    assert signature.inputs == [Column("petal_length", "double"), Column("petal_width", "double")]
    assert signature.outputs == [Column("—", "long")]


def test_tensors_optional_columns_and_files_without_a_signature() -> None:
    text = (
        'flavors: {}\nsignature:\n  inputs: \'[{"type": "tensor", "tensor-spec": {"dtype": "float32", '
        '"shape": [-1, 4]}}, {"type": "string", "name": "note", "required": false}]\'\n  outputs: null\n'
    )
    signature = parse_signature(text)
    assert signature is not None
    assert signature.inputs == [Column("—", "tensor float32 [-1, 4]"), Column("note", "string", required=False)]
    assert signature.outputs == []
    assert parse_signature("flavors: {}\n") is None
    assert parse_signature("just text") is None
    assert parse_signature("signature:\n  inputs: 'not json'\n").inputs == []  # type: ignore[union-attr]


def test_an_example_request_has_one_row_in_the_signatures_columns() -> None:
    assert example_request(parse_signature(SKLEARN)) == {
        "input_data": {"columns": ["petal_length", "petal_width"], "data": [[0.0, 0.0]]}
    }
    mixed = Signature([Column("age", "long"), Column("name", "string"), Column("ok", "boolean")], [])
    assert example_request(mixed) == {"input_data": {"columns": ["age", "name", "ok"], "data": [[0, "", False]]}}
    tensors = parse_signature(
        'signature:\n  inputs: \'[{"type": "tensor", "tensor-spec": {"dtype": "float32", "shape": [-1, 4]}}]\'\n'
    )
    assert example_request(tensors) is None  # no column names to show
    assert example_request(None) is None and example_request(Signature([], [])) is None
