"""What a noise model is: how each registry's clerks corrupt the true world.

The sample generator holds two noise models behind this one interface:

* ``default`` (:mod:`datapool.samples.noise`): the noise the matcher was built and tuned on;
  ``data/samples`` is written with it.
* ``holdout`` (:mod:`datapool.samples.noise2`): a second, deliberately different model, written
  apart from the first and from the matcher, with other corruption choices, rates and spellings.
  It is used ONLY to score the matcher (``datapool bench``, ``tests/test_quality.py``); no
  threshold, weight or rule may be tuned on it.

The exports (``exports.py``) and the member database (``members.py``) ask the model for every
choice a clerk makes, so a model decides all the noise and nothing else (the world, its
enterprises, renames and headcounts are the same under both).
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from datapool.samples.world import Enterprise

Rng = random.Random


@dataclass(frozen=True)
class NoiseModel:
    """Every choice a registry's clerk makes, as functions of the enterprise and a seeded rng.

    Attributes:
        name: ``default`` or ``holdout``.
        name_variant: ``(registered name, enterprise, rng, level) -> name as typed``.
        address_variant: ``(enterprise, rng, level, operating) -> address as typed``.
        date_text: ``(date, rng) -> one of the input contract's date spellings``.
        code_typo: ``(code, rng) -> the code keyed wrongly``.
        ms_code / ca_code / si_code / tax_code: ``(enterprise, rng) -> the code column's value``.
        former_note: ``(name, former name, rng) -> market supervision's name cell``.
        levels: how messy each registry's names (``ms``, ``ca``, ``si``, ``tax``, ``members``) and
            addresses (``ms_address``, ...) are.
        lag: per registry (``si``, ``tax``), how many months it keeps showing a renamed firm's
            former name: ``(rng) -> months``.
    """

    name: str
    name_variant: Callable[[str, Enterprise, Rng, float], str]
    address_variant: Callable[[Enterprise, Rng, float, bool], str]
    date_text: Callable[[date, Rng], str]
    code_typo: Callable[[str, Rng], str]
    ms_code: Callable[[Enterprise, Rng], str]
    ca_code: Callable[[Enterprise, Rng], str]
    si_code: Callable[[Enterprise, Rng], str]
    tax_code: Callable[[Enterprise, Rng], str]
    former_note: Callable[[str, str, Rng], str]
    levels: dict[str, float]
    lag: dict[str, Callable[[Rng], int]]
