"""Authors and affiliations (names with and without LaTeX accents)."""

from __future__ import annotations

import random
from dataclasses import dataclass

# (unicode form, LaTeX form); accented names are rare on purpose, so only a few bib entries
# carry LaTeX accents.
# fmt: off
FIRST_NAMES: tuple[tuple[str, str], ...] = tuple(
    (n, n)
    for n in (
        "Wei", "Jing", "Anna", "Lukas", "Maria", "David", "Sarah", "Ahmed", "Priya", "Hiroshi",
        "Yuki", "Elena", "Marco", "Sofia", "Daniel", "Emily", "Omar", "Fatima", "Ivan", "Olga",
        "Min-jun", "Seo-yeon", "Carlos", "Lucia", "Thomas", "Julia", "Mateo", "Aisha", "Kwame",
        "Noah", "Zhi", "Xin", "Rui", "Hao", "Tianyu", "Arjun", "Kavya", "Pierre", "Camille",
        "Jonas", "Freya", "Nadia", "Tariq", "Leila", "Gabriel", "Hannah", "Mohammed", "Ravi",
    )
) + (
    ("Grégoire", r"Gr\'egoire"), ("José", r"Jos\'e"), ("Zoë", r'Zo\"e'), ("Björn", r'Bj{\"o}rn'),
)
LAST_NAMES: tuple[tuple[str, str], ...] = tuple(
    (n, n)
    for n in (
        "Chen", "Wang", "Li", "Zhang", "Smith", "Johnson", "Kumar", "Patel", "Nguyen", "Kim",
        "Park", "Garcia", "Rossi", "Ivanova", "Okafor", "Haddad", "Tanaka", "Sato", "Novak",
        "Larsen", "Silva", "Costa", "Ahmed", "Khan", "Schmidt", "Fischer", "Dubois", "Moreau",
        "Yilmaz", "Cohen", "Brown", "Taylor", "Wilson", "Anderson", "Martin", "Lee", "Liu", "Yang",
        "Huang", "Zhao", "Wu", "Zhou", "Xu", "Sun", "Ma", "Hu", "Guo", "Lin", "Mensah", "Bianchi",
        "Kowalski", "Petrov", "Singh", "Iyer", "Adeyemi", "Andersson", "Berg",
    )
) + (
    ("Müller", r'M{\"u}ller'), ("Gómez", r"G{\'o}mez"), ("Lefèvre", r"Lef{\`e}vre"), ("Hernández", r"Hern{\'a}ndez"),
    ("Dvořák", r"Dvo{\v{r}}{\'a}k"), ("Pérez", r"P\'erez"), ("Çelik", r"{\c{C}}elik"), ("Jäger", r'J\"ager'),
)
# fmt: on
AFFILIATIONS = (
    "Northbridge University",
    "Lakeside Institute of Technology",
    "Eastvale University",
    "Redwood AI Lab",
    "Harborview University",
    "Westmark Institute for Machine Intelligence",
    "Summit Research",
    "University of Kestrel Bay",
)


@dataclass
class Author:
    first: str
    last: str
    first_tex: str
    last_tex: str

    @property
    def name(self) -> str:
        return f"{self.first} {self.last}"

    @property
    def bib(self) -> str:
        return f"{self.last_tex}, {self.first_tex}"

    @property
    def tex(self) -> str:
        return f"{self.first_tex} {self.last_tex}"


def draw_author(rng: random.Random) -> Author:
    first, first_tex = rng.choice(FIRST_NAMES)
    last, last_tex = rng.choice(LAST_NAMES)
    return Author(first, last, first_tex, last_tex)
