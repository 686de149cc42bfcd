"""The relay's partitioner must place every key where Kafka's default partitioner does: consumers
rely on one learner's events staying in one partition, in order, whoever produced them."""

import uuid

from aiokafka.partitioner import DefaultPartitioner

from shared.plumbing.kafka import KeyedPartitioner


def test_every_key_goes_where_the_default_partitioner_sends_it_cached_or_not():
    keyed, default = KeyedPartitioner(), DefaultPartitioner()
    keys = [uuid.uuid5(uuid.NAMESPACE_URL, str(n)).bytes for n in range(500)] + [b"", b"a", b"abc", b"abcde"]
    for partitions in ([0], list(range(12)), list(range(48))):
        for _ in range(2):  # the second time from the cache
            assert [keyed(k, partitions, partitions) for k in keys] == [default(k, partitions, partitions)
                                                                       for k in keys]


def test_the_cache_is_bounded_and_a_key_without_bytes_goes_to_an_available_partition():
    keyed = KeyedPartitioner()
    keyed.MAX_KEYS = 10
    for n in range(25):
        keyed(str(n).encode(), list(range(12)), list(range(12)))
    assert len(keyed._hashes) <= 10
    assert keyed(None, list(range(12)), [3, 7]) in (3, 7)
