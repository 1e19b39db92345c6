"""A job's snapshot (runner.state.snapshot): updating one gives what making it again from the rows gives,
and its blobs are the same bytes on every machine."""

from __future__ import annotations

from array import array

from hypothesis import given
from hypothesis import strategies as st

from runner.state import snapshot

INT64 = st.integers(min_value=-(1 << 63), max_value=(1 << 63) - 1)
# Users as username hash -> fingerprint: unique hashes, as the rows of one job have (unique usernames).
USERS = st.dictionaries(INT64, INT64, max_size=60)


def _made(users: dict[int, int]) -> tuple[list[int], list[int]]:
    """The snapshot made again from rows: (fingerprint, hash) sorted by fingerprint, then hash."""
    pairs = sorted((fp, h) for h, fp in users.items())
    return [fp for fp, _ in pairs], [h for _, h in pairs]


@given(USERS, st.data())
def test_an_updated_snapshot_is_the_one_made_again_from_the_rows(
    users: dict[int, int], data: st.DataObject
) -> None:
    before = _made(users)
    known = sorted(users)
    forgotten = data.draw(st.sets(st.sampled_from(known)) if known else st.just(set()))
    changed = data.draw(st.dictionaries(st.sampled_from(known), INT64) if known else st.just({}))
    new = data.draw(st.dictionaries(INT64.filter(lambda h: h not in users), INT64, max_size=10))
    accepted = {**changed, **new}
    forgotten -= set(accepted)
    after = {h: fp for h, fp in users.items() if h not in forgotten} | accepted

    arrays = [array("q", before[0]), array("q", before[1])]
    snapshot.update(arrays, gone=forgotten | set(accepted), added=[(fp, h) for h, fp in accepted.items()])
    prints, hashes = arrays

    want_prints, want_hashes = _made(after)
    assert list(prints) == want_prints
    # Equal fingerprints (never in practice: they cover the username) may be in either order of hash.
    assert sorted(zip(prints, hashes, strict=True)) == sorted(zip(want_prints, want_hashes, strict=True))


def test_an_unchanged_snapshot_keeps_its_arrays() -> None:
    prints, hashes = array("q", [1, 5, 9]), array("q", [7, 3, 2])
    arrays = [prints, hashes]
    snapshot.update(arrays, gone={4}, added=[])  # a hash no user has
    assert arrays[0] is prints and arrays[1] is hashes


@given(st.lists(INT64, max_size=50))
def test_a_blob_is_big_endian_and_reads_back(values: list[int]) -> None:
    blob = snapshot.pack(array("q", values))
    assert blob == b"".join(v.to_bytes(8, "big", signed=True) for v in values)
    assert list(snapshot.unpack(blob)) == values


def test_a_snapshot_is_updated_only_when_few_of_its_users_changed() -> None:
    assert snapshot.worth_updating(1000, 250)
    assert not snapshot.worth_updating(1000, 251)
    assert not snapshot.worth_updating(0, 0)  # nothing to update: made from the rows
