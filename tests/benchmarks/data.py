"""Synthetic SMS exports for the benchmarks: realistic widths, Unicode names, commas and quotes."""

from __future__ import annotations

import csv
import random
from pathlib import Path

GIVEN = [
    "Aroha",
    "Tāne",
    "Mere",
    "Wiremu",
    "Thị Minh Anh",
    "Văn Bình",
    "伟",
    "美玲",
    "Siobhán",
    "Zoë",
    "Chloé",
    "José",
    "Oliver",
    "Amelia",
    "Noah",
    "Isla",
    "Mohammed",
    "Priya",
    "Hana",
    "Kauri",
]
FAMILY = [
    "Ngata",
    "Horomona",
    "Nguyễn",
    "Trần",
    "李",
    "王",
    "O'Brien",
    "O'Connor",
    "Smith, Jr",
    "García-López",
    "Müller",
    "Dubois",
    "Te Whata",
    "Tāwhiao",
    "Al-Sayed",
    "Sharma",
    "Tanaka",
    "Wilson",
    "Brown",
    "Lee",
]
PREFERRED = ["", "", "", "", 'Bob "Bobby"', "Sia", "Bill", "Minh Anh", "Wei", ""]
HEADER = [
    "student_code",
    "given_name",
    "family_name",
    "preferred_name",
    "year_level",
    "form_class",
    "email",
    "status",
    "campus",
    "house",
    "date_of_birth",
    "phone",
    "graduation_year",
]


def write_export(path: Path, rows: int, seed: int = 1, changed: int = 0) -> Path:
    """A students.csv of `rows` students (all active, years 07 to 12) at `path`. With `changed` N, every
    Nth student has a new email address (the rest is as the same seed writes without it)."""
    rnd = random.Random(seed)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\r\n")
        writer.writerow(HEADER)
        for i in range(rows):
            year = rnd.randint(7, 12)
            writer.writerow(
                [
                    f"S{i:07d}",
                    rnd.choice(GIVEN),
                    rnd.choice(FAMILY),
                    rnd.choice(PREFERRED),
                    f"{year:02d}",
                    f"{year:02d}{rnd.choice('ABCD')}",
                    f"student{i}@{'moved' if changed and i % changed == 0 else 'students'}.example.edu",
                    "Active",
                    "North",
                    rnd.choice(["Kauri", "Rimu", "Tōtara", "Kōwhai"]),
                    f"20{rnd.randint(8, 14):02d}-{rnd.randint(1, 12):02d}-{rnd.randint(1, 28):02d}",
                    f"+64 21 {rnd.randint(100, 999)} {rnd.randint(1000, 9999)}",
                    str(2026 + 12 - year),
                ]
            )
    return path
