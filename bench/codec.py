"""Codec benchmark: decode+encode rate per message type, the connection flow against one
ECDSA P-384 verification, and the DOE header decode against a bare struct.unpack_from.

Run: python bench/codec.py   (needs ../shared/vectors/libspdm beside the repository)
"""

from __future__ import annotations

import struct
import sys
from pathlib import Path

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _timing import LIBSPDM_VECTORS, per_call

from spdm.capture import messages, read_pcap
from spdm.flow import FlowDecoder, direction_of
from spdm.messages import CodecContext, Message, decode, encode, error, key_exchange, psk, session_control, vendor
from spdm.messages import encapsulated as enc
from spdm.transport import doe

FLOW_CAPTURE = "b_conn_ecdsap256_sha256_v11"  # VCA, DIGESTS, CERTIFICATE, CHALLENGE, signed MEASUREMENTS


def _samples_from_captures() -> dict[str, tuple[bytes, CodecContext | None]]:
    """One real message per code found in clear records of the captures, with its context."""
    found: dict[str, tuple[bytes, CodecContext | None]] = {}
    for pcap_path in sorted(LIBSPDM_VECTORS.glob("*/requester.pcap")):
        flow = FlowDecoder()
        for item in messages(read_pcap(pcap_path)):
            if item.message is None:
                continue
            ctx = flow.context(direction_of(item.data))
            flow.observe(item.message)
            found.setdefault(item.message.name, (item.data, ctx))
    return found


def _synthetic_samples() -> dict[str, tuple[bytes, CodecContext | None]]:
    """Messages that only travel inside sessions (encrypted in the captures)."""
    ctx = CodecContext(hash_size=48, signature_size=96, req_signature_size=96, dhe_size=96)
    made: list[Message] = [
        key_exchange.Finish(attributes=0, req_slot_id=0, signature=None, requester_verify_data=bytes(48)),
        key_exchange.FinishRsp(responder_verify_data=None),
        psk.PskFinish(requester_verify_data=bytes(48)),
        psk.PskFinishRsp(),
        session_control.Heartbeat(),
        session_control.HeartbeatAck(),
        session_control.KeyUpdate(operation=1, tag=0x6C),
        session_control.KeyUpdateAck(operation=1, tag=0x6C),
        session_control.EndSession(attributes=1),
        session_control.EndSessionAck(),
        enc.GetEncapsulatedRequest(),
        enc.EncapsulatedRequest(request_id=1, payload=bytes.fromhex("11810000")),
        enc.DeliverEncapsulatedResponse(request_id=1, payload=bytes(4 + 48)),
        enc.EncapsulatedResponseAck(request_id=2, payload_type=0, payload=b""),
        error.RespondIfReady(request_code=0xE0, token=1),
        vendor.VendorDefinedRequest(standard_id=3, vendor_id=b"\x01\x00", payload=bytes(16)),
        vendor.VendorDefinedResponse(standard_id=3, vendor_id=b"\x01\x00", payload=bytes(16)),
    ]
    return {m.name: (encode(m), ctx) for m in made}


def _round_trip(data: bytes, ctx: CodecContext | None) -> None:
    encode(decode(data, ctx))


def _p384_verify_time() -> float:
    key = ec.generate_private_key(ec.SECP384R1())
    message = bytes(range(256)) * 8
    signature = key.sign(message, ec.ECDSA(hashes.SHA384()))
    public = key.public_key()
    return per_call(lambda: public.verify(signature, message, ec.ECDSA(hashes.SHA384())))


def measure() -> dict[str, object]:
    """The codec figures: per-message decode+encode seconds, the connection flow, one P-384 verify, the DOE header.

    Needs the libspdm captures (FileNotFoundError otherwise).
    """
    if not LIBSPDM_VECTORS.is_dir():
        raise FileNotFoundError(f"the libspdm captures at {LIBSPDM_VECTORS}")
    samples = {**_synthetic_samples(), **_samples_from_captures()}
    verify = _p384_verify_time()
    per_message = {
        name: (len(data), per_call(lambda data=data, ctx=ctx: _round_trip(data, ctx)))
        for name, (data, ctx) in sorted(samples.items())
    }

    flow = FlowDecoder()
    pairs = []
    for item in messages(read_pcap(LIBSPDM_VECTORS / FLOW_CAPTURE / "requester.pcap")):
        if item.message is None:
            continue
        pairs.append((item.data, flow.context(direction_of(item.data))))
        flow.observe(item.message)

    def whole_flow() -> None:
        for data, ctx in pairs:
            encode(decode(data, ctx))

    flow_time = per_call(whole_flow)
    names = {"doe": doe, "header": doe.encode_object(doe.DoeType.CMA_SPDM, bytes(4)), "bare": struct.Struct("<II")}
    t_doe = per_call("doe.read_header(header)", globals=names)
    t_bare = per_call("bare.unpack_from(header)", globals=names)
    return {
        "per_message": per_message,
        "verify": verify,
        "flow_messages": len(pairs),
        "flow": flow_time,
        "codec_flow_vs_verify": flow_time / verify,
        "doe_header": t_doe,
        "doe_bare": t_bare,
        "doe_header_vs_struct": t_doe / t_bare,
    }


def main() -> int:
    try:
        figures = measure()
    except FileNotFoundError as exc:
        print(f"bench/codec.py: needs {exc}", file=sys.stderr)
        return 2
    per_message = figures["per_message"]
    assert isinstance(per_message, dict)
    print(f"{'message':32} {'bytes':>6} {'decode+encode/s':>16} {'us':>8}")
    for name, (size, t) in per_message.items():
        print(f"{name:32} {size:6} {1 / t:16,.0f} {t * 1e6:8.1f}")
    verify, flow_time = float(figures["verify"]), float(figures["flow"])  # type: ignore[arg-type]
    print()
    print(f"ECDSA P-384 verify (cryptography, same run): {verify * 1e6:8.1f} us")
    print(
        f"connection flow ({figures['flow_messages']} messages of {FLOW_CAPTURE}, decode+encode):"
        f" {flow_time * 1e6:8.1f} us  ratio to one verify: {flow_time / verify:.2f} (target < 1)"
    )
    t_doe, t_bare = float(figures["doe_header"]), float(figures["doe_bare"])  # type: ignore[arg-type]
    print(
        f"DOE header decode (read_header): {t_doe * 1e9:6.0f} ns, bare struct.unpack_from: {t_bare * 1e9:6.0f} ns"
        f"  ratio: {t_doe / t_bare:.2f} (target <= 5)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
