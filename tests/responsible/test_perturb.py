"""Seeded perturbations: reproducible, per row, and each doing what its name says."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from bizmodel.errors import ConfigError
from bizmodel.responsible.perturb import (
    KEYBOARD,
    PERTURBATIONS,
    SYNONYMS,
    check_kinds,
    perturb_row,
    typo,
)

ROW = ("Tesco", "Tesco shares rise after strong profit beats forecast")


@pytest.mark.parametrize("kind", list(PERTURBATIONS))
def test_same_seed_same_text_other_seed_may_differ(kind: str) -> None:
    a = [perturb_row(ROW, kind, seed=7, row=i) for i in range(20)]
    assert a == [perturb_row(ROW, kind, seed=7, row=i) for i in range(20)]
    assert all(r != ROW for r in a)  # every kind changes this row
    assert len({perturb_row(ROW, kind, seed=s, row=0) for s in range(20)}) > 1


def test_keyboard_neighbours_are_adjacent_keys() -> None:
    assert set(KEYBOARD["g"]) == set("ftyhbv")
    assert set(KEYBOARD["q"]) == set("wa")
    assert all(c in KEYBOARD[d] for c, near in KEYBOARD.items() for d in near)  # symmetric


@given(st.text(alphabet="abcdefghijklmnopqrstuvwxyz ", min_size=3, max_size=40), st.integers(0, 99))
def test_a_typo_changes_length_by_at_most_the_words_hit(text: str, seed: int) -> None:
    (out,) = typo((text,), np.random.default_rng(seed))
    long_words = [w for w in text.split() if len(w) >= 3]
    assert len(text) - len(long_words) <= len(out) <= len(text)


def test_entity_swap_is_consistent_across_the_pair() -> None:
    for i in range(10):
        company, title = perturb_row(ROW, "entity", seed=0, row=i)
        assert company != "Tesco" and title.startswith(company + " shares")


def test_entity_swap_leaves_rows_without_entities() -> None:
    row = ("nothing to see", "here either")
    assert perturb_row(row, "entity", seed=0, row=0, entities=("Acme", "Borealis")) == row


def test_synonyms_keep_case_and_meaningful_words() -> None:
    out = perturb_row(("Profit rises",), "synonym", seed=0, row=0)[0]
    first, second = out.split(" ", 1)
    assert first in {s.capitalize() for s in SYNONYMS["profit"]}
    assert second in SYNONYMS["rises"]


def test_casing_is_one_of_three() -> None:
    outs = {perturb_row(("Acme beats",), "casing", seed=0, row=i)[0] for i in range(30)}
    assert outs <= {"acme beats", "ACME BEATS", "Acme Beats"} and len(outs) >= 2


def test_unknown_kind_names_the_valid_ones() -> None:
    with pytest.raises(ConfigError, match="unknown perturbation 'shout'; valid: typo, casing"):
        check_kinds(["shout"])
    with pytest.raises(ConfigError, match="no perturbations given"):
        check_kinds([])
