"""Pod IP blocks: two clusters on one host never hand out the same pod IP."""

from __future__ import annotations

import socket

from fma.local.podnet import CLAIM_PORT, PodIPAllocator


def test_two_default_allocators_on_one_host_hand_out_addresses_from_different_blocks() -> None:
    a, b = PodIPAllocator(), PodIPAllocator()
    try:
        assert a.block and b.block and a.block != b.block
        ia, ib = a.allocate("default/p"), b.allocate("default/p")
        assert ia != ib
        assert ia.split(".")[1] == a.block.split(".")[1] and ia.endswith(".1.1")
    finally:
        a.close()
        b.close()


def test_a_closed_allocator_gives_its_block_back() -> None:
    a = PodIPAllocator()
    block = a.block
    a.close()
    b = PodIPAllocator()
    try:
        assert b.block == block   # the lowest free block again
    finally:
        b.close()


def test_a_block_held_by_another_process_is_skipped() -> None:
    probe = PodIPAllocator()
    free = probe.block
    probe.close()
    assert free is not None
    held = socket.socket()
    held.bind((free.replace(".0.0/16", ".0.1"), CLAIM_PORT))   # as another cluster's claim would
    try:
        a = PodIPAllocator()
        try:
            assert a.block != free
        finally:
            a.close()
    finally:
        held.close()


def test_an_explicit_range_claims_nothing() -> None:
    a = PodIPAllocator(first="127.0.1.254", last="127.0.2.2")
    assert a.block is None and a.allocate("x") == "127.0.1.254"
