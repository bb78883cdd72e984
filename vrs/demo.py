"""A reproducible synthetic data set: municipalities, residents, doses, card profiles.

Every resident gets a software-card profile with the same My Number and 4
facts as their record, so a card and its records fit together. Nobody here is
real: names come from small lists, My Numbers from a seeded generator.
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from card_reader.mynumber import check_digit

from .ledger_rows import IMPORT_COLUMNS
from .municipalities import Municipality

if TYPE_CHECKING:
    from .areas import Area

MUNICIPALITIES = [
    Municipality(
        "382051", "新居浜市", "Niihama City", "愛媛県", True, "新居浜市長", "Mayor of Niihama City"
    ),
    Municipality(
        "382019", "松山市", "Matsuyama City", "愛媛県", True, "松山市長", "Mayor of Matsuyama City"
    ),
    Municipality(
        "382027", "今治市", "Imabari City", "愛媛県", True, "今治市長", "Mayor of Imabari City"
    ),
    # one that never joined convenience-store issuance
    Municipality(
        "382060", "西条市", "Saijo City", "愛媛県", False, "西条市長", "Mayor of Saijo City"
    ),
]
TOWNS = {
    "382051": "新居浜市見本町",
    "382019": "松山市見本町",
    "382027": "今治市見本町",
    "382060": "西条市見本町",
}
FAMILY = [
    ("見本", "MIHON"),
    ("試験", "SHIKEN"),
    ("仮名", "KAMEI"),
    ("模擬", "MOGI"),
    ("例示", "REIJI"),
    ("架空", "KAKU"),
    ("検証", "KENSHO"),
    ("演習", "ENSHU"),
]
GIVEN = [
    ("花子", "HANAKO", "2"),
    ("太郎", "TARO", "1"),
    ("次郎", "JIRO", "1"),
    ("陽子", "YOKO", "2"),
    ("一郎", "ICHIRO", "1"),
    ("桜", "SAKURA", "2"),
    ("翔", "SHO", "1"),
    ("結衣", "YUI", "2"),
]
SCHEDULE = [
    ("pfizer", "FA"),
    ("pfizer", "FF"),
    ("moderna", "30"),
    ("moderna", "00"),
    ("pfizer", "GK"),
]
FULLWIDTH = str.maketrans("0123456789", "０１２３４５６７８９")


@dataclass
class Resident:
    code: str
    my_number: str
    name: str
    romanized: str
    birth: date
    sex: str
    address: str
    pin: str
    doses: int
    passport: bool = False
    moved_out: bool = False
    deceased: bool = False
    label: str = ""
    coupon: str = ""  # 接種券番号: what a vaccination-site tablet reads (M12)

    def secrets(self) -> tuple[str, ...]:
        """What must never show in a file that is not the encrypted record: number, names, birth date."""
        family, given = self.name.split("\u3000")
        return (
            self.my_number,
            self.name,
            family,
            given,
            self.birth.isoformat(),
            self.birth.strftime("%Y%m%d"),
        )


STRIDE = 829_348_951  # coprime to 10**11: base + i*STRIDE never repeats, so no two residents share a number
COUPON_STRIDE = 7_310_986_417  # coprime to 10**10: coupon numbers never repeat either


def my_number(base: int, i: int) -> str:
    first = f"{(base + i * STRIDE) % 10**11:011d}"
    return first + str(check_digit(first))


def residents(n: int, seed: int = 2022) -> Iterator[Resident]:
    """The named demo cases first, then ``n`` minus them spread over the municipalities."""
    rng = random.Random(seed)
    base = rng.randrange(10**11)
    # from a generator of its own: the residents stay the same as before coupons existed
    coupon_base = random.Random(seed + 2).randrange(10**10)
    named = [
        (
            "382051",
            3,
            True,
            False,
            False,
            "Niihama, 3 doses, passport data (domestic and overseas)",
        ),
        ("382051", 2, False, False, False, "Niihama, 2 doses, no passport data (domestic only)"),
        ("382051", 0, False, False, False, "Niihama, no doses"),
        ("382051", 2, False, True, False, "Niihama, moved out"),
        ("382051", 2, False, False, True, "Niihama, deceased"),
        ("382019", 3, True, False, False, "Matsuyama, 3 doses, passport data"),
        ("382060", 2, False, False, False, "Saijo (no convenience-store issuance), 2 doses"),
    ]
    for i in range(n):
        if i < len(named):
            code, doses, passport, moved, dead, label = named[i]
        else:
            code = MUNICIPALITIES[rng.randrange(len(MUNICIPALITIES))].code
            doses, passport, moved, dead, label = (
                rng.choice((0, 2, 3, 3, 4, 5)),
                rng.random() < 0.1,
                False,
                False,
                "",
            )
        fam, fam_r = FAMILY[rng.randrange(len(FAMILY))] if i else FAMILY[0]
        giv, giv_r, sex = GIVEN[rng.randrange(len(GIVEN))] if i else GIVEN[0]
        block = f"{rng.randint(1, 5)}丁目{rng.randint(1, 30)}番{rng.randint(1, 20)}号".translate(
            FULLWIDTH
        )
        yield Resident(
            code=code,
            my_number=my_number(base, i),
            name=f"{fam}\u3000{giv}",
            romanized=f"{fam_r} {giv_r}",
            birth=date(1940, 1, 1) + timedelta(days=rng.randrange(365 * 60)),
            sex=sex,
            address=f"愛媛県{TOWNS[code]}{block}",
            pin="1234" if i == 0 else f"{rng.randrange(10000):04d}",
            doses=doses,
            passport=passport,
            moved_out=moved,
            deceased=dead,
            label=label,
            coupon=f"{(coupon_base + i * COUPON_STRIDE) % 10**10:010d}",
        )


def csv_rows(r: Resident, rng: random.Random) -> Iterator[list[str]]:
    person = [
        r.my_number,
        f"{rng.randrange(10**9):09d}",
        r.coupon,
        r.name,
        r.birth.isoformat(),
        r.sex,
        r.romanized if r.passport else "",
        "JPN" if r.passport else "",
        f"TZ{rng.randrange(10**7):07d}" if r.passport else "",
        "",
        "1" if r.moved_out else "",
        "1" if r.deceased else "",
    ]
    if not r.doses:
        yield [*person, "", "", "", "", "", ""]
    day = date(2021, 5, 10) + timedelta(days=rng.randrange(60))
    for n in range(1, r.doses + 1):
        product, lot = SCHEDULE[n - 1]
        maker = "ファイザー" if product == "pfizer" else "モデルナ"
        yield [
            *person,
            str(n),
            day.isoformat(),
            maker,
            "mRNA",
            product,
            f"{lot}{rng.randrange(10**4):04d}",
        ]
        day += timedelta(days=21 if n == 1 else 180)


def write_csv(residents_: Iterator[Resident], out: Path, seed: int) -> dict[str, Path]:
    """One ledger CSV per municipality, as each municipality's system would export it."""
    import csv

    rng = random.Random(seed + 1)
    out.mkdir(parents=True, exist_ok=True)
    paths = {m.code: out / f"ledger-{m.code}.csv" for m in MUNICIPALITIES}
    files = {code: path.open("w", newline="", encoding="utf-8") for code, path in paths.items()}
    try:
        writers = {code: csv.writer(f) for code, f in files.items()}
        for w in writers.values():
            w.writerow(IMPORT_COLUMNS)
        for r in residents_:
            for row in csv_rows(r, rng):
                writers[r.code].writerow(row)
    finally:
        for f in files.values():
            f.close()
    return paths


def profile(r: Resident, variant: str = "short") -> dict[str, str]:
    return {
        "my_number": r.my_number,
        "name": r.name,
        "address": r.address,
        "birth_date": r.birth.strftime("%Y%m%d"),
        "sex": r.sex,
        "pin": r.pin,
        "variant": variant,
    }


def write_profiles(residents_: Iterable[Resident], out: Path, count: int) -> Path:
    """Profiles beside the data: one file per resident, or one JSON-lines file past 1,000.

    ``residents_`` is streamed, never held whole: a list of a million residents
    alone takes some 600 MB.
    """
    out.mkdir(parents=True, exist_ok=True)
    if count > 1000:
        path = out / "profiles.jsonl"
        with path.open("w", encoding="utf-8") as f:
            for r in residents_:
                f.write(json.dumps({**profile(r), "label": r.label}, ensure_ascii=False) + "\n")
        return path
    cards = out / "cards"
    cards.mkdir(exist_ok=True)
    index = []
    for i, r in enumerate(residents_):
        name = f"resident-{i + 1:03d}.json"
        (cards / name).write_text(
            json.dumps(profile(r, "long" if i % 2 else "short"), ensure_ascii=False, indent=1)
        )
        index.append(
            {
                "profile": f"cards/{name}",
                "municipality": r.code,
                "label": r.label,
                "pin": r.pin,
                "doses": r.doses,
                "passport": r.passport,
                "coupon": r.coupon,
            }
        )
    (out / "cards.json").write_text(json.dumps(index, ensure_ascii=False, indent=1))
    return cards


def holder(code: str, my_number: str, name: str, birth: date, sex: str, doses: int = 3) -> Resident:
    """A card holder (``enroll-from-card``) as a demo resident of ``code``: the card's facts,
    a coupon number and ``doses`` synthetic doses as the demo data has them."""
    rng = random.Random()
    return Resident(
        code=code,
        my_number=my_number,
        name=name,
        romanized="",
        birth=birth,
        sex=sex,
        address="",  # not part of the record; the card keeps it
        pin="",  # the card's own
        doses=doses,
        label="enrolled from a card",
        coupon=f"{rng.randrange(10**10):010d}",
    )


def enroll(area: Area, resident: Resident, actor: str) -> int:
    """``resident``'s record, sealed into ``area`` as a one-person ledger (the import's own
    checks and its ``records.import`` log entry as ``actor``): never a row written by hand."""
    import csv
    import io

    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow(IMPORT_COLUMNS)
    writer.writerows(csv_rows(resident, random.Random()))
    buf.seek(0)
    return area.import_csv(buf, actor=actor)
