"""Codec against hand-written `struct` code: decode and encode time of representative messages
(GET_VERSION, VERSION, GET_CERTIFICATE, CERTIFICATE, CHALLENGE_AUTH, MEASUREMENTS with blocks and
a signature) by `spdm.messages.decode`/`encode` and by a few lines of `struct` that make the same
checks (decoding: header, code, every length and count consistent with the bytes, nothing left
over; encoding: field sizes, OpaqueLength bound, the DMTF value layout), on the messages of one
in-process ECDSA P-384 / SHA-384 authentication. Issue target: codec at most 4x the struct baseline.

Run: python bench/codec_struct.py
"""

from __future__ import annotations

import struct
import sys
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _timing import per_call

from spdm.flow import FlowDecoder, direction_of
from spdm.messages import CodecContext, decode, encode
from spdm.messages.codes import BaseAsymAlgo, BaseHashAlgo
from spdm.requester import Requester, RequesterConfig
from spdm.responder import Responder, SlotIdentity, demo_config
from spdm.testing.pki import make_chain
from spdm.transport.loopback import LoopbackTransport

TARGET = 4.0
_HEADER = struct.Struct("<BBBB")
_U16 = struct.Struct("<H")
_GET_CERTIFICATE = struct.Struct("<BBBBHH")
_CERTIFICATE = struct.Struct("<BBBBHH")
_MEASUREMENTS = struct.Struct("<BBBBB")
_BLOCK = struct.Struct("<BBH")
_DMTF = struct.Struct("<BH")


class Malformed(ValueError):
    """A hand-written decoder's rejection."""


def _header(data: bytes, code: int, minimum: int) -> tuple[int, int, int]:
    if len(data) < minimum:
        raise Malformed(f"{len(data)} bytes, at least {minimum} needed")
    version, got, param1, param2 = _HEADER.unpack_from(data)
    if got != code:
        raise Malformed(f"code 0x{got:02x}")
    if version >> 4 != 1:
        raise Malformed(f"version 0x{version:02x}")
    return version, param1, param2


def _end(data: bytes, offset: int) -> None:
    if offset != len(data):
        raise Malformed(f"{len(data) - offset} trailing bytes" if offset < len(data) else "truncated")


def get_version(data: bytes, ctx: CodecContext | None) -> tuple[int, int, int]:
    fields = _header(data, 0x84, 4)
    _end(data, 4)
    return fields


def version(data: bytes, ctx: CodecContext | None) -> tuple[int, int, tuple[int, ...]]:
    _, _, _ = _header(data, 0x04, 6)
    reserved, count = data[4], data[5]
    _end(data, 6 + 2 * count)
    return reserved, count, struct.unpack_from(f"<{count}H", data, 6)


def get_certificate(data: bytes, ctx: CodecContext | None) -> tuple[int, int, int, int]:
    _header(data, 0x82, _GET_CERTIFICATE.size)
    _, _, slot, param2, offset, length = _GET_CERTIFICATE.unpack_from(data)
    _end(data, _GET_CERTIFICATE.size)
    return slot, param2, offset, length


def certificate(data: bytes, ctx: CodecContext | None) -> tuple[int, int, bytes]:
    _header(data, 0x02, _CERTIFICATE.size)
    _, _, slot, _, portion, remainder = _CERTIFICATE.unpack_from(data)
    end = _CERTIFICATE.size + portion
    _end(data, end)
    return slot, remainder, data[_CERTIFICATE.size : end]


def _sizes(ctx: CodecContext | None) -> tuple[int, int]:
    if ctx is None or ctx.hash_size is None or ctx.signature_size is None:
        raise Malformed("hash and signature sizes not negotiated")
    return ctx.hash_size, ctx.signature_size


def _requester_context_size(data: bytes) -> int:
    """1.3 CHALLENGE_AUTH and MEASUREMENTS carry the 8-byte RequesterContext after OpaqueData."""
    return 8 if data[0] >= 0x13 else 0


def challenge_auth(data: bytes, ctx: CodecContext | None) -> tuple[bytes, bytes, bytes, bytes, bytes]:
    hash_size, signature_size = _sizes(ctx)
    assert ctx is not None
    _header(data, 0x03, 4)
    offset = 4
    chain_hash, offset = data[offset : offset + hash_size], offset + hash_size
    nonce, offset = data[offset : offset + 32], offset + 32
    summary_size = hash_size if ctx.measurement_summary_hash else 0
    summary, offset = data[offset : offset + summary_size], offset + summary_size
    if len(data) < offset + 2:
        raise Malformed("truncated before OpaqueLength")
    (opaque_length,) = _U16.unpack_from(data, offset)
    if opaque_length > 1024:
        raise Malformed("OpaqueLength over 1024")
    offset += 2
    opaque, offset = data[offset : offset + opaque_length], offset + opaque_length
    offset += _requester_context_size(data)
    signature, offset = data[offset : offset + signature_size], offset + signature_size
    _end(data, offset)
    return chain_hash, nonce, summary, opaque, signature


def measurements(data: bytes, ctx: CodecContext | None) -> tuple[list[tuple[int, int, int, bytes]], bytes, bytes]:
    if ctx is None:
        raise Malformed("no context")
    _header(data, 0x60, 8)
    count = data[4]
    record_length = int.from_bytes(data[5:8], "little")
    offset, record_end = 8, 8 + record_length
    if record_end > len(data):
        raise Malformed("MeasurementRecord overruns the message")
    blocks = []
    for _ in range(count):
        if offset + _BLOCK.size > record_end:
            raise Malformed("block header overruns the record")
        index, spec, size = _BLOCK.unpack_from(data, offset)
        offset += _BLOCK.size
        if offset + size > record_end:
            raise Malformed("block overruns the record")
        if spec & 1:  # DMTF measurement: type, size, value filling the block exactly
            if size < _DMTF.size:
                raise Malformed("DMTF measurement too short")
            value_type, value_size = _DMTF.unpack_from(data, offset)
            if value_size != size - _DMTF.size:
                raise Malformed("DMTF value size disagrees with the block size")
            blocks.append((index, spec, value_type, data[offset + _DMTF.size : offset + size]))
        else:
            blocks.append((index, spec, -1, data[offset : offset + size]))
        offset += size
    if offset != record_end:
        raise Malformed("blocks do not fill MeasurementRecordLength")
    nonce, offset = data[offset : offset + 32], offset + 32
    if len(data) < offset + 2:
        raise Malformed("truncated before OpaqueLength")
    (opaque_length,) = _U16.unpack_from(data, offset)
    if opaque_length > 1024:
        raise Malformed("OpaqueLength over 1024")
    offset += 2 + opaque_length + _requester_context_size(data)
    signature_size = 0
    if ctx.signature_requested:
        if ctx.signature_size is None:
            raise Malformed("signature size not negotiated")
        signature_size = ctx.signature_size
    signature = data[offset : offset + signature_size]
    _end(data, offset + signature_size)
    return blocks, nonce, signature


def _bytes(value: object, size: int | None = None) -> bytes:
    if not isinstance(value, bytes) or (size is not None and len(value) != size):
        raise Malformed(f"expected {size} bytes" if size else "expected bytes")
    return value


def _opaque(value: object) -> bytes:
    opaque = _bytes(value)
    if len(opaque) > 1024:
        raise Malformed("OpaqueLength over 1024")
    return _U16.pack(len(opaque)) + opaque


def encode_get_version(m: Any) -> bytes:
    return _HEADER.pack(m.version, 0x84, m.param1, m.param2)


def encode_version(m: Any) -> bytes:
    entries = tuple(m.entries)
    return _HEADER.pack(m.version, 0x04, m.param1, m.param2) + struct.pack(
        f"<BB{len(entries)}H", m.reserved, len(entries), *entries
    )


def encode_get_certificate(m: Any) -> bytes:
    return _GET_CERTIFICATE.pack(m.version, 0x82, m.slot_param, m.param2, m.offset, m.length)


def encode_certificate(m: Any) -> bytes:
    portion = _bytes(m.portion)
    return _CERTIFICATE.pack(m.version, 0x02, m.slot_param, m.param2, len(portion), m.remainder_length) + portion


def encode_challenge_auth(m: Any) -> bytes:
    summary = b"" if m.measurement_summary_hash is None else _bytes(m.measurement_summary_hash)
    return b"".join(
        (
            _HEADER.pack(m.version, 0x03, m.attributes, m.slot_mask),
            _bytes(m.cert_chain_hash),
            _bytes(m.nonce, 32),
            summary,
            _opaque(m.opaque_data),
            b"" if m.requester_context is None else _bytes(m.requester_context, 8),
            _bytes(m.signature),
        )
    )


def encode_measurements(m: Any) -> bytes:
    blocks = []
    for block in m.blocks:
        measurement = block.measurement
        if block.specification & 1:
            value = _bytes(measurement.value)
            body = _DMTF.pack(measurement.value_type, len(value)) + value
        else:
            body = _bytes(measurement)
        blocks.append(_BLOCK.pack(block.index, block.specification, len(body)) + body)
    record = b"".join(blocks)
    head = _MEASUREMENTS.pack(m.version, 0x60, m.total_indices, m.slot_param, len(blocks))
    signature = b"" if m.signature is None else _bytes(m.signature)
    return b"".join(
        (
            head,
            len(record).to_bytes(3, "little"),
            record,
            _bytes(m.nonce, 32),
            _opaque(m.opaque_data),
            b"" if m.requester_context is None else _bytes(m.requester_context, 8),
            signature,
        )
    )


ENCODERS: dict[str, Callable[[Any], bytes]] = {
    "GET_VERSION": encode_get_version,
    "VERSION": encode_version,
    "GET_CERTIFICATE": encode_get_certificate,
    "CERTIFICATE": encode_certificate,
    "CHALLENGE_AUTH": encode_challenge_auth,
    "MEASUREMENTS": encode_measurements,
}

BASELINES: dict[str, Callable[[bytes, CodecContext | None], object]] = {
    "GET_VERSION": get_version,
    "VERSION": version,
    "GET_CERTIFICATE": get_certificate,
    "CERTIFICATE": certificate,
    "CHALLENGE_AUTH": challenge_auth,
    "MEASUREMENTS": measurements,
}


def recorded_messages() -> dict[str, tuple[bytes, CodecContext | None]]:
    """The first message of each kind in one authentication (P-384, SHA-384, all measurement blocks signed)."""
    asym, hash_algo = BaseAsymAlgo.ECDSA_P384, BaseHashAlgo.SHA_384
    chain = make_chain(asym, hash_algo=hash_algo)
    config = replace(
        demo_config(),
        slots={0: SlotIdentity(certificates=chain.certificates_der, private_key=chain.leaf_key)},
        base_asym_priority=(asym,),
        base_hash_priority=(hash_algo,),
    )
    responder = Responder(config)
    wire: list[bytes] = []

    def respond(request: bytes, session_id: int | None = None) -> bytes:
        response = responder.respond(request, session_id)
        wire.extend((request, response))
        return response

    Requester(LoopbackTransport(respond), RequesterConfig(trust_anchors={0: chain.root_der})).authenticate(0)
    flow = FlowDecoder()
    found: dict[str, tuple[bytes, CodecContext | None]] = {}
    for data in wire:
        ctx = flow.context(direction_of(data))
        message = decode(data, ctx)
        flow.observe(message)
        found.setdefault(message.name, (data, ctx))
    return found


def measure() -> dict[str, object]:
    """Per message and direction (decode, encode): (bytes, codec seconds, struct seconds, ratio); the worst ratio."""
    samples = recorded_messages()
    rows: dict[str, tuple[int, float, float, float]] = {}
    for name, baseline in BASELINES.items():
        data, ctx = samples[name]
        baseline(data, ctx)  # the baseline must accept what the codec accepts
        t_codec = per_call(lambda data=data, ctx=ctx: decode(data, ctx))
        t_struct = per_call(lambda data=data, ctx=ctx, baseline=baseline: baseline(data, ctx))
        rows[f"decode {name}"] = (len(data), t_codec, t_struct, t_codec / t_struct)
    for name, encoder in ENCODERS.items():
        data, ctx = samples[name]
        message = decode(data, ctx)
        if encoder(message) != data:
            raise Malformed(f"the {name} struct encoder does not write the recorded bytes")
        t_codec = per_call(lambda message=message: encode(message))
        t_struct = per_call(lambda message=message, encoder=encoder: encoder(message))
        rows[f"encode {name}"] = (len(data), t_codec, t_struct, t_codec / t_struct)
    worst = max(rows, key=lambda name: rows[name][3])
    return {"per_message": rows, "worst_message": worst, "codec_vs_struct_worst": rows[worst][3]}


def main() -> int:
    figures = measure()
    rows = figures["per_message"]
    assert isinstance(rows, dict)
    print(f"{'message':25} {'bytes':>6} {'codec us':>9} {'struct us':>10} {'ratio':>7}")
    for name, (size, t_codec, t_struct, ratio) in rows.items():
        print(f"{name:25} {size:6} {t_codec * 1e6:9.2f} {t_struct * 1e6:10.2f} {ratio:7.1f}")
    print(
        f"worst: {figures['worst_message']} at {figures['codec_vs_struct_worst']:.1f}x the struct baseline"
        f" (target <= {TARGET:g})"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
