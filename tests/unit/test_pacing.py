"""Waits at rest: the pace's rule, and the two client attributes the runtime sets to follow it."""

from __future__ import annotations

import inspect

from aiokafka import AIOKafkaConsumer
from aiokafka.consumer.fetcher import Fetcher
from faststream.kafka.subscriber.usecase import BatchSubscriber

from shared.plumbing.pacing import Pace


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_short_while_work_comes_then_doubling_after_the_quiet_spell_up_to_the_longest():
    clock = FakeClock()
    pace = Pace(0.02, 0.5, quiet_after=2.0, clock=clock)
    clock.now = 1.0
    assert pace.quiet() == 0.02  # quiet for 1 s only: still short
    clock.now = 2.0
    assert [pace.quiet() for _ in range(6)] == [0.04, 0.08, 0.16, 0.32, 0.5, 0.5]


def test_the_first_sign_of_work_brings_the_shortest_wait_back_at_once():
    clock = FakeClock()
    pace = Pace(0.02, 0.5, quiet_after=2.0, clock=clock)
    clock.now = 10.0
    for _ in range(10):
        pace.quiet()
    assert pace.current == 0.5
    assert pace.busy() is True
    assert pace.current == 0.02
    assert pace.busy() is False  # already short: nothing to change
    clock.now = 11.0
    assert pace.quiet() == 0.02  # and the quiet spell counts again from the work


def test_a_longest_below_the_shortest_keeps_the_shortest():
    pace = Pace(0.05, 0.01, quiet_after=0, clock=FakeClock())
    assert pace.quiet() == 0.05


def test_the_attributes_the_runtime_sets_are_those_the_clients_read():
    # The fetcher builds each fetch request from `_fetch_max_wait_ms`; FastStream's batch
    # subscriber polls with `batch_timeout_ms`. An upgrade renaming them would silently leave the
    # waits fixed: this says so first.
    assert "FetchRequest(\n                self._fetch_max_wait_ms" in inspect.getsource(Fetcher)
    assert "timeout_ms=self.batch_timeout_ms" in inspect.getsource(BatchSubscriber.get_msg)


def test_the_lag_watcher_reads_every_committed_offset_in_one_request_as_committed_does():
    # What the public `committed(tp)` calls, for one partition; the lag watcher calls it for all.
    assert "self._coordinator.fetch_committed_offsets([partition])" in inspect.getsource(AIOKafkaConsumer.committed)
