"""allocate_ports: every port of a test twin in one call, never one handed out before,
in this process or any other that is still alive."""

from __future__ import annotations

import socket
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import pytest

from threetier.errors import ThreetierError
from threetier.local.ports import ALLOCATION_RANGE, PortAllocator, allocate_ports, port_is_free


def ephemeral_low() -> int:
    return int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])


def own_span(size: int) -> tuple[int, int]:
    """A span no other allocator hands out (reserved through the real one), for a private
    allocator to work in."""
    block = allocate_ports(size)[0]
    return block.start, block.stop


def test_blocks_have_their_sizes_are_consecutive_and_disjoint():
    blocks = allocate_ports(1, 1, 2, 3)
    assert [len(b) for b in blocks] == [1, 1, 2, 3]
    ports = [p for b in blocks for p in b]
    assert len(set(ports)) == len(ports)
    assert all(ALLOCATION_RANGE[0] <= p < ALLOCATION_RANGE[1] for p in ports)
    assert all(port_is_free(p) for p in ports)


def test_no_port_is_in_the_kernels_ephemeral_range():
    # Outgoing connections take ephemeral ports; one could sit on a port before its server binds it.
    assert ALLOCATION_RANGE[1] <= ephemeral_low()


def test_two_calls_never_return_the_same_port_even_from_many_threads():
    results: list[list[range]] = []

    def allocate() -> None:
        for _ in range(20):
            results.append(allocate_ports(1, 2))

    threads = [threading.Thread(target=allocate) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    ports = [p for blocks in results for b in blocks for p in b]
    assert len(ports) == 8 * 20 * 3
    assert len(set(ports)) == len(ports)


def test_a_port_something_listens_on_is_skipped_and_an_exhausted_span_is_a_clear_error(tmp_path):
    low, high = own_span(4)
    allocator = PortAllocator(tmp_path / "ports.lock", (low, high))
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", low + 1))
        squatter.listen()
        blocks = allocator.allocate((1, 1, 1))
        assert sorted(b[0] for b in blocks) == [low, low + 2, low + 3]
        with pytest.raises(ThreetierError, match=f"no 1 consecutive free loopback ports in {low}-{high - 1}") as caught:
            allocator.allocate((1,))
    assert "stop leftover test processes" in caught.value.fix


def test_a_block_is_never_split_across_the_end_of_the_span(tmp_path):
    low, high = own_span(3)
    for attempt in range(10):  # whatever the random start, the only fit is the whole span
        allocator = PortAllocator(tmp_path / f"ports-{attempt}.lock", (low, high))
        assert allocator.allocate((3,)) == [range(low, high)]


def test_a_failed_call_gives_back_the_blocks_it_had_taken(tmp_path):
    low, high = own_span(4)
    allocator = PortAllocator(tmp_path / "ports.lock", (low, high))
    with pytest.raises(ThreetierError):
        allocator.allocate((2, 3))
    assert allocator.allocate((4,)) == [range(low, high)]


HOLDER = """
import sys
from pathlib import Path
from threetier.local.ports import PortAllocator

allocator = PortAllocator(Path(sys.argv[1]), (int(sys.argv[2]), int(sys.argv[3])))
print(" ".join(str(b[0]) for b in allocator.allocate((1, 1, 1))), flush=True)
sys.stdin.readline()  # hold the reservations until told to exit
"""


def test_another_process_never_gets_a_port_this_one_holds_until_it_exits(tmp_path):
    low, high = own_span(6)
    lock_file = tmp_path / "ports.lock"
    holder = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(HOLDER), str(lock_file), str(low), str(high)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )
    try:
        held = {int(p) for p in holder.stdout.readline().split()}
        assert len(held) == 3, held
        mine = PortAllocator(lock_file, (low, high))
        got = {b[0] for b in mine.allocate((1, 1, 1))}
        assert got.isdisjoint(held) and got | held == set(range(low, high))
        with pytest.raises(ThreetierError):
            mine.allocate((1,))
    finally:
        holder.communicate("\n", timeout=10)
    # The kernel dropped the holder's locks when it exited: its ports can be handed out again.
    assert {b[0] for b in mine.allocate((1, 1, 1))} == held
