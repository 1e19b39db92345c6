"""'Did you mean' suggestions by edit distance."""

from __future__ import annotations

from collections.abc import Iterable


def distance(a: str, b: str) -> int:
    """Edit distance between `a` and `b`: insertions, deletions, substitutions and swaps of two
    neighbouring letters (`emial` is one edit from `email`) each count one."""
    before: list[int] = []
    previous = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        current = [i]
        for j, cb in enumerate(b, 1):
            cost = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (ca != cb))
            if i > 1 and j > 1 and ca == b[j - 2] and a[i - 2] == cb:
                cost = min(cost, before[j - 2] + 1)
            current.append(cost)
        before, previous = previous, current
    return previous[-1]


def did_you_mean(word: str, choices: Iterable[str]) -> str | None:
    """The closest of `choices` to `word`, if it is close enough to be a likely typo."""
    best: tuple[int, str] | None = None
    for choice in choices:
        d = distance(word.lower(), choice.lower())
        if best is None or d < best[0]:
            best = (d, choice)
    if best is None:
        return None
    limit = max(1, min(len(word), len(best[1])) // 3)
    return best[1] if best[0] <= limit else None
