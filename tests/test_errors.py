from bizmodel.errors import BizmodelError, DataError, ModelNotFoundError


def test_hierarchy_and_kind() -> None:
    err = ModelNotFoundError("no model 'x'")
    assert isinstance(err, BizmodelError)
    assert err.kind == "model_not_found_error"
    assert err.http_status == 404


def test_file_prefix() -> None:
    assert str(DataError("row 2: bad", file="a.csv")) == "a.csv: row 2: bad"
