"""Status of a knet handle for people and programs: ``struct knet_handle_stats`` as far as a
sans-IO core counts it, and the JSON-able snapshot ``pycorosync-cfgtool`` and cmap's
``stats.knet.*`` read (ref knet/README.md 2; corosync ``exec/stats.c``)."""

from __future__ import annotations

from dataclasses import asdict, dataclass

__all__ = ["U64_MAX", "HandleStats"]


U64_MAX = 2**64 - 1
"""A ``*_time_min`` before its first sample: libknet starts the minimums at ``UINT64_MAX``
(``knet_handle_new``), and corosync-cmapctl shows them so."""


@dataclass(slots=True)
class HandleStats:
    """``struct knet_handle_stats``, and the ``stats_extra`` counters of the service packets.

    The ``*_time_*`` fields are nanoseconds (libknet's ``timespec_diff``; the header says
    microseconds, the values a real node shows are nanoseconds) of each compression,
    decompression, encryption (one per DATA fragment) and decryption (of DATA packets),
    as measured with the handle's injected clock; without one they keep their initial
    values (``min`` = :data:`U64_MAX`, ``max`` = ``ave`` = 0). ``ave`` is libknet's running
    integer mean over the matching packet counter. ``rx_crypt_packets`` counts decrypted
    DATA packets only, as libknet does."""

    tx_uncompressed_packets: int = 0
    tx_compressed_packets: int = 0
    tx_compressed_original_bytes: int = 0
    tx_compressed_size_bytes: int = 0
    tx_compress_time_ave: int = 0
    tx_compress_time_min: int = U64_MAX
    tx_compress_time_max: int = 0
    rx_compressed_packets: int = 0
    rx_compressed_original_bytes: int = 0
    rx_compressed_size_bytes: int = 0
    rx_compress_time_ave: int = 0
    rx_compress_time_min: int = U64_MAX
    rx_compress_time_max: int = 0
    tx_crypt_packets: int = 0
    """Sealed DATA fragments (``knet_handle_get_stats`` adds the service packets below)."""
    tx_crypt_byte_overhead: int = 0
    tx_crypt_time_ave: int = 0
    tx_crypt_time_min: int = U64_MAX
    tx_crypt_time_max: int = 0
    rx_crypt_packets: int = 0
    rx_crypt_time_ave: int = 0
    rx_crypt_time_min: int = U64_MAX
    rx_crypt_time_max: int = 0
    tx_crypt_ping_packets: int = 0
    tx_crypt_pong_packets: int = 0
    tx_crypt_pmtu_packets: int = 0
    tx_crypt_pmtu_reply_packets: int = 0
    tx_messages: int = 0
    """Application messages handed to :meth:`KnetHandle.send`."""
    tx_no_destination: int = 0
    """Of those, how many found no reachable host (EHOSTDOWN)."""
    rx_messages: int = 0
    """Application messages delivered."""
    local_messages: int = 0
    """Messages to ourselves (loopback)."""

    def sample(self, name: str, count: int, took: int) -> None:
        """One timing sample of ``name`` (``<name>_min``/``_max``/``_ave``; ``count``: the
        samples already in the mean), folded in as libknet does."""
        if took < getattr(self, name + "_min"):
            setattr(self, name + "_min", took)
        if took > getattr(self, name + "_max"):
            setattr(self, name + "_max", took)
        setattr(self, name + "_ave", (getattr(self, name + "_ave") * count + took) // (count + 1))

    def tx_crypt_sample(self, took: int) -> None:
        """A DATA fragment sealed in ``took`` ns (the per-fragment path: no getattr)."""
        count = self.tx_crypt_packets
        if took < self.tx_crypt_time_min:
            self.tx_crypt_time_min = took
        if took > self.tx_crypt_time_max:
            self.tx_crypt_time_max = took
        self.tx_crypt_time_ave = (self.tx_crypt_time_ave * count + took) // (count + 1)
        self.tx_crypt_packets = count + 1

    def rx_crypt_sample(self, took: int) -> None:
        """A DATA packet opened in ``took`` ns."""
        count = self.rx_crypt_packets
        if took < self.rx_crypt_time_min:
            self.rx_crypt_time_min = took
        if took > self.rx_crypt_time_max:
            self.rx_crypt_time_max = took
        self.rx_crypt_time_ave = (self.rx_crypt_time_ave * count + took) // (count + 1)
        self.rx_crypt_packets = count + 1

    def as_dict(self) -> dict[str, int]:
        return asdict(self)

    def get_stats(self) -> dict[str, int]:
        """What ``knet_handle_get_stats`` returns: :meth:`as_dict` with the sealed pings,
        pongs, PMTUd probes and replies added to ``tx_crypt_packets``."""
        out = asdict(self)
        out["tx_crypt_packets"] += (
            self.tx_crypt_ping_packets
            + self.tx_crypt_pong_packets
            + self.tx_crypt_pmtu_packets
            + self.tx_crypt_pmtu_reply_packets
        )
        return out
