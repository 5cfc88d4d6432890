"""Hypothesis strategies for every wire value."""

from __future__ import annotations

from hypothesis import strategies as st

from totem.ringid import RingId
from totem.wire import (
    CommitToken,
    Mcast,
    MembEntry,
    MembJoin,
    MergeDetect,
    OrfToken,
    RtrItem,
    TokenHoldCancel,
)

u8 = st.integers(0, 0xFF)
u32 = st.integers(0, 0xFFFFFFFF)
i32 = st.integers(-(2**31), 2**31 - 1)
u64 = st.integers(0, 2**64 - 1)
ring_ids = st.builds(RingId, u32, u64)

rtr_items = st.builds(RtrItem, ring_ids, u32)
orf_tokens = st.builds(
    OrfToken,
    u32,
    u32,
    u32,
    u32,
    u32,
    u32,
    ring_ids,
    u32,
    u32,
    i32,
    st.lists(rtr_items, max_size=30),
)
mcasts = st.builds(Mcast, u32, u32, u8, u32, u32, i32, ring_ids, u32, i32, st.binary(max_size=300))
memb_joins = st.builds(
    MembJoin,
    u32,
    u32,
    u32,
    st.lists(u32, max_size=40).map(tuple),
    st.lists(u32, max_size=40).map(tuple),
    u64,
)
merge_detects = st.builds(MergeDetect, u32, u32, u32, ring_ids)
token_hold_cancels = st.builds(TokenHoldCancel, u32, u32, ring_ids)
memb_entries = st.builds(MembEntry, ring_ids, u32, u32, u32)


@st.composite
def commit_tokens(draw: st.DrawFn) -> CommitToken:
    members = draw(st.integers(0, 24))
    return CommitToken(
        draw(u32),
        draw(u32),
        draw(u32),
        draw(ring_ids),
        draw(u32),
        draw(st.integers(0, members)),
        draw(st.lists(u32, min_size=members, max_size=members)),
        draw(st.lists(memb_entries, min_size=members, max_size=members)),
    )


messages = st.one_of(
    orf_tokens, mcasts, memb_joins, merge_detects, commit_tokens(), token_hold_cancels
)
