"""Which split — train, dev or test — a unit of data belongs to, decided by construction.

A *unit* is what must never be divided between splits: an article (JaQuAD, CMRC 2018), a page
(Logseq, Scrapbox) or a whole problem (GSM8K, MAWPS). Every question of a unit lands in the same
split, because the split is a pure function of the unit's key (a SHA-256 of the data set's name
and the key), not of a random draw or of the order in which files are read:

- *train*: material the model may learn from;
- *dev*: never trained on; used to choose settings and to stop training;
- *test*: never looked at while building; only to report.

Training code asks :func:`is_training` before it uses a unit; evaluation code asks
:func:`split_of` and keeps the units of the split it reports. Tests check both sides.
"""

from __future__ import annotations

import hashlib
import unicodedata
from dataclasses import dataclass
from typing import Literal

Split = Literal["train", "dev", "test"]
KINDS: tuple[Split, ...] = ("train", "dev", "test")


@dataclass(frozen=True)
class SplitPlan:
    """The share of units (in percent) that go to dev and to test; the rest is train."""

    dev: int
    test: int


# Reading sets keep a tenth of their articles each for dev and test; arithmetic keeps less because
# GSM8K and MAWPS have thousands of problems. Data sets that exist only for evaluation (the JaQuAD
# dev folder, the hand-written note questions) are split half and half.
PLANS: dict[str, SplitPlan] = {
    "gsm8k": SplitPlan(dev=4, test=4),
    "mawps": SplitPlan(dev=50, test=50),
    "cmrc2018": SplitPlan(dev=5, test=5),
    "jaquad-train": SplitPlan(dev=0, test=0),
    "jaquad-dev": SplitPlan(dev=50, test=50),
    "logseq-docs": SplitPlan(dev=25, test=25),
    "villagepump": SplitPlan(dev=35, test=35),
}


def unit_key(text: str) -> str:
    """A unit's key as the split sees it: NFKC, case-folded, whitespace collapsed."""
    return " ".join(unicodedata.normalize("NFKC", text).casefold().split())


def bucket(dataset: str, key: str) -> int:
    """A stable number in 0..99 for a unit of a data set."""
    digest = hashlib.sha256(f"{dataset}\x00{unit_key(key)}".encode()).digest()
    return int.from_bytes(digest[:8], "big") % 100


def split_of(dataset: str, key: str) -> Split:
    """The split of one unit (an article title, a page title, a problem's text)."""
    plan = PLANS.get(dataset)
    if plan is None:
        raise KeyError(f"no split plan for data set {dataset!r} (known: {', '.join(sorted(PLANS))})")
    b = bucket(dataset, key)
    if b < plan.test:
        return "test"
    if b < plan.test + plan.dev:
        return "dev"
    return "train"


def is_training(dataset: str, key: str) -> bool:
    """Whether training may use this unit."""
    return split_of(dataset, key) == "train"
