"""common.memory: the C heap's free memory given back to the system."""

import ctypes

from common import memory


class FakeLibc:
    def __init__(self, calls: list):
        self.calls = calls

    def malloc_trim(self, pad: int) -> int:
        self.calls.append(pad)
        return 1


def test_heap_release_trims_the_heap_to_nothing_kept(monkeypatch):
    calls = []
    monkeypatch.setattr(ctypes, "CDLL", lambda name: FakeLibc(calls))
    memory.heap_release()
    assert calls == [0]


def test_heap_release_does_nothing_without_glibc(monkeypatch):
    def no_library(name):
        raise OSError(f"{name}: cannot open shared object file")

    monkeypatch.setattr(ctypes, "CDLL", no_library)
    memory.heap_release()  # a libc without malloc_trim, or none: nothing to do
    monkeypatch.setattr(ctypes, "CDLL", lambda name: object())  # no malloc_trim attribute
    memory.heap_release()


def test_heap_release_runs_on_this_machine():
    memory.heap_release()
