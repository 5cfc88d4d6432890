"""knet DATA compression (ref knet/README.md 1.2, 3; ``libknet/compress*.c``).

corosync's ``knet_compression_model`` (default ``none``), ``knet_compression_threshold``
(0: knet's default of 100 bytes) and ``knet_compression_level`` (default 0, each library's
own meaning) configure it. A message longer than the threshold is compressed, and sent
compressed only if that made it smaller; the DATA header's ``khp_data_compress`` byte
then names the model, and the receiver decompresses with *that* model, whatever its
own configuration. The model ids are part of the wire format:

=====  ======  =================================================================
id     model   format (what the C library call produces)
=====  ======  =================================================================
1      zlib    ``compress2``: a zlib stream (level -1..9)
2      lz4     ``LZ4_compress_fast``: one raw LZ4 block, no size prefix
3      lz4hc   ``LZ4_compress_HC``: the same block format
4      lzo2    not supported here: refused when the configuration is loaded
5      lzma    ``lzma_easy_buffer_encode``: an .xz stream without integrity check
6      bzip2   ``BZ2_bzBuffToBuffCompress``: a bzip2 stream (level 1..9)
7      zstd    ``ZSTD_compressCCtx``: one zstd frame with its content size
=====  ======  =================================================================

zlib, lzma and bzip2 come from the standard library, lz4 and zstd from the ``lz4`` and
``zstandard`` packages (imported only when a model needs them). Decompressed output is
limited to knet's receive buffer (``KNET_DATABUFSIZE``); anything longer, or anything
that does not decompress, is dropped and counted by the caller.
"""

from __future__ import annotations

import bz2
import lzma
import zlib
from dataclasses import dataclass
from typing import Any, Final

from totem.knet.constants import HEADER_ALL_SIZE, MAX_PACKET_SIZE

__all__ = [
    "COMPRESS_THRESHOLD_DEFAULT",
    "MODEL_IDS",
    "SUPPORTED_MODELS",
    "CompressConfig",
    "KnetCompressError",
    "compress",
    "decompress",
]

MODEL_IDS: Final = {
    "none": 0,
    "zlib": 1,
    "lz4": 2,
    "lz4hc": 3,
    "lzo2": 4,
    "lzma": 5,
    "bzip2": 6,
    "zstd": 7,
}
"""``compress_modules_cmds``: name -> the id carried on the wire."""
SUPPORTED_MODELS: Final = ("none", "zlib", "lz4", "lz4hc", "lzma", "bzip2", "zstd")
COMPRESS_THRESHOLD_DEFAULT: Final = 100
"""``KNET_COMPRESS_THRESHOLD``: used when the configured threshold is 0."""
DECOMPRESS_LIMIT: Final = MAX_PACKET_SIZE + HEADER_ALL_SIZE
"""``KNET_DATABUFSIZE``: the most a packet may decompress to."""
_NAMES: Final = {ident: name for name, ident in MODEL_IDS.items()}


class KnetCompressError(ValueError):
    """A compressed payload that cannot be restored (``reason``: ``decompress``)."""

    reason = "decompress"


@dataclass(frozen=True, slots=True)
class CompressConfig:
    """``struct knet_handle_compress_cfg`` as corosync fills it."""

    model: str = "none"
    threshold: int = 0
    level: int = 0

    def __post_init__(self) -> None:
        if self.model not in MODEL_IDS:
            raise ValueError(f"compress model {self.model} not supported")
        if self.model not in SUPPORTED_MODELS:
            raise ValueError(
                f"compress model {self.model} is not available in pycorosync "
                f"(use one of {', '.join(SUPPORTED_MODELS)})"
            )
        if self.threshold > MAX_PACKET_SIZE:
            raise ValueError(
                f"compress threshold cannot be higher than KNET_MAX_PACKET_SIZE "
                f"({MAX_PACKET_SIZE})."
            )

    @property
    def model_id(self) -> int:
        return MODEL_IDS[self.model]

    @property
    def effective_threshold(self) -> int:
        """Messages longer than this are compressed (0 configured: knet's 100)."""
        return self.threshold or COMPRESS_THRESHOLD_DEFAULT


def compress(config: CompressConfig, data: bytes) -> bytes | None:
    """``data`` compressed with ``config``'s model and level; None when the library
    refuses (a level it does not take): knet then sends the message uncompressed."""
    model, level = config.model, config.level
    try:
        if model == "zlib":
            return zlib.compress(data, level)
        if model == "lz4":
            fast: bytes = _lz4().compress(
                data, mode="fast", acceleration=max(level, 1), store_size=False
            )
            return fast
        if model == "lz4hc":
            hc_level = level if level >= 1 else 9
            high: bytes = _lz4().compress(
                data, mode="high_compression", compression=hc_level, store_size=False
            )
            return high
        if model == "lzma":
            return lzma.compress(data, format=lzma.FORMAT_XZ, check=lzma.CHECK_NONE, preset=level)
        if model == "bzip2":
            return bz2.compress(data, level)
        if model == "zstd":
            import zstandard

            return zstandard.ZstdCompressor(level=level).compress(data)
    except (ValueError, lzma.LZMAError, zlib.error, OverflowError):
        return None
    except Exception as err:  # library-specific errors (lz4, zstandard)
        if type(err).__module__.split(".")[0] in ("lz4", "zstandard"):
            return None
        raise
    return None


def decompress(model_id: int, data: bytes, limit: int = DECOMPRESS_LIMIT) -> bytes:
    """Restore a payload compressed with wire model ``model_id``; at most ``limit`` bytes.

    Raises :class:`KnetCompressError` for an unknown or unsupported model, a damaged
    payload, or output beyond ``limit``.
    """
    name = _NAMES.get(model_id)
    try:
        out: bytes
        if name == "zlib":
            inflater = zlib.decompressobj()
            out = inflater.decompress(data, limit)
            if inflater.unconsumed_tail or not inflater.eof:
                raise KnetCompressError("zlib stream too long or truncated")
        elif name in ("lz4", "lz4hc"):
            out = _lz4().decompress(data, uncompressed_size=limit)
        elif name == "lzma":
            unxz = lzma.LZMADecompressor(format=lzma.FORMAT_XZ)
            out = unxz.decompress(data, limit)
            if not unxz.eof:
                raise KnetCompressError("xz stream too long or truncated")
        elif name == "bzip2":
            unbz = bz2.BZ2Decompressor()
            out = unbz.decompress(data, limit)
            if not unbz.eof:
                raise KnetCompressError("bzip2 stream too long or truncated")
        elif name == "zstd":
            import zstandard

            out = zstandard.ZstdDecompressor().decompress(data, max_output_size=limit)
        else:
            raise KnetCompressError(f"compress model {model_id} not supported")
    except KnetCompressError:
        raise
    except Exception as err:  # every library's own error type: a damaged payload
        raise KnetCompressError(f"{name}: {err}") from None
    if len(out) > limit:
        raise KnetCompressError(f"decompressed to {len(out)} bytes > {limit}")
    return out


def _lz4() -> Any:
    import lz4.block

    return lz4.block
