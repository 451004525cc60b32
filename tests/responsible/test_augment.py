"""Augmentation: seeded copies, and `train(augment=N)` trains on them."""

import pandas as pd
import pytest

from bizmodel.datasets import financial_headlines
from bizmodel.errors import ConfigError
from bizmodel.responsible.augment import augment_rows


def test_copies_are_seeded_and_keep_targets_and_index() -> None:
    df = financial_headlines(20, seed=0)
    a = augment_rows(df, ["company", "headline"], n=3, seed=1)
    pd.testing.assert_frame_equal(a, augment_rows(df, ["company", "headline"], n=3, seed=1))
    assert not a.equals(augment_rows(df, ["company", "headline"], n=3, seed=2))
    pd.testing.assert_frame_equal(a.iloc[:20], df)
    copies = a.iloc[20:]
    assert 40 <= len(copies) <= 60
    src = df.loc[copies.index]
    assert (copies["sentiment"].to_numpy() == src["sentiment"].to_numpy()).all()
    assert ((copies["company"] != src["company"]) | (copies["headline"] != src["headline"])).all()


def test_zero_is_identity_and_bad_n_is_an_error() -> None:
    df = financial_headlines(4, seed=0)
    assert augment_rows(df, ["headline"], 0) is df
    with pytest.raises(ConfigError, match=r"augment must be an integer >= 0.*got -1"):
        augment_rows(df, ["headline"], -1)


def test_train_with_augment_trains_on_more_rows(tmp_path) -> None:
    from bizmodel.finetune import train

    kw = dict(text="company", text_pair="headline", target="sentiment", split_column="split",
              method="frozen", epochs=1, batch_size=8, max_length=32, show_progress=False,
              num_threads=1)  # fmt: skip
    data = financial_headlines(24, seed=0)
    plain = train(data, output=tmp_path / "a", **kw)
    more = train(data, output=tmp_path / "b", augment=2, **kw)
    assert plain.n_train < more.n_train <= 3 * plain.n_train
    assert more.n_dev == plain.n_dev and more.n_test == plain.n_test
    with pytest.raises(ConfigError, match="augment must be an integer >= 0, got -1"):
        train(data, output=tmp_path / "c", augment=-1, **kw)
