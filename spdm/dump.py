"""`spdm dump`: every record of a capture, decoded, as text or JSON lines."""

from __future__ import annotations

import dataclasses
import json
import os
from typing import Any, TextIO

from spdm.capture import CapturedMessage, CaptureSecrets, messages, read_pcap
from spdm.errors import DecodeError
from spdm.mel import MelPortions
from spdm.messages import CodecContext, Message
from spdm.messages.encapsulated import embedded_message, embedded_payload
from spdm.messages.mel import GetMeasurementExtensionLog, MeasurementExtensionLog, decode_mel
from spdm.messages.negotiation import version_text
from spdm.portions import continued
from spdm.verify.sessions import ReplayRecord, SessionReplayer

__all__ = ["describe", "run"]


def _plain(value: Any) -> Any:
    """JSON-ready form: bytes as hex, records as objects, tuples as lists."""
    if isinstance(value, bytes):
        return value.hex()
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, (tuple, list)):
        return [_plain(v) for v in value]
    return value


def describe(
    item: CapturedMessage, opened: ReplayRecord | None = None, context: CodecContext | None = None
) -> dict[str, Any]:
    """One record as a JSON-ready object: index, direction, transport, code, fields.

    `opened` is the session replay's view of a secured record: its decrypted message is shown
    (with the session ID and the keys that protected it) instead of the ciphertext's header.
    A chunk message is shown as it is; the one that completes a large message (or a CHUNK_SEND_ACK
    that carries a response) adds `carried`: that message's code, version and fields. So does an
    encapsulated-flow message for the request or response it carries (SEND_EVENT, EVENT_ACK,
    GET_DIGESTS...), when that decodes under `context` (`FlowDecoder.carried_context`).
    """
    out: dict[str, Any] = {
        "index": item.index,
        "direction": item.direction.value if item.direction else None,
        "transport": item.transport,
        "kind": item.kind,
        "code": item.code,
    }
    message, carried = item.message, item.carried
    if opened is not None and opened.secured and opened.message is not None:
        message, carried = opened.message, opened.carried
        out["code"] = message.name
        out["session_id"] = opened.session_id
        out["keys"] = opened.keys
    if message is not None:
        out.update(_message(message))
        inner = carried.message if carried is not None else _embedded(message, context)
        if inner is not None:
            out["carried"] = {"code": inner.name, **_message(inner)}
    elif item.details:
        out["fields"] = _plain(item.details)
    error = item.error or (opened.error if opened is not None else None)
    if error is not None:
        out["error"] = str(error)
    return out


class _MelReads:
    """Puts each MEASUREMENT_EXTENSION_LOG read back together (per session; None in the clear) so
    that the record completing one shows the whole log (`mel`, or `mel_error` when it does not parse
    or its portions do not fit)."""

    def __init__(self) -> None:
        self.asked: dict[int | None, GetMeasurementExtensionLog] = {}
        self.portions: dict[int | None, MelPortions] = {}

    def add(self, record: dict[str, Any], message: Message, session: int | None) -> None:
        if isinstance(message, GetMeasurementExtensionLog):
            self.asked[session] = message
            self.portions[session] = continued(self.portions.get(session), message.offset, MelPortions)
            return
        ask = self.asked.pop(session, None)
        if ask is None or not isinstance(message, MeasurementExtensionLog):
            return
        try:
            log = self.portions[session].add(ask, message)
        except ValueError as error:
            record["mel_error"] = str(error)
            del self.portions[session]
            return
        if log is None:
            return
        del self.portions[session]
        try:
            record["mel"] = _plain(decode_mel(log))
        except DecodeError as error:
            record["mel_error"] = str(error)


def _embedded(message: Message, context: CodecContext | None) -> Message | None:
    """The message an encapsulated-flow message carries, if it is one message (`embedded_message`: the
    capture's padding is already cut, and a secured record has none)."""
    payload = embedded_payload(message)
    if payload is None:
        return None
    try:
        return embedded_message(payload, context, 0)[0]
    except DecodeError:
        return None


def _message(message: Message) -> dict[str, Any]:
    return {
        "version": version_text(message.version),
        "fields": {k: v for k, v in _plain(message).items() if k != "version"},
    }


def _text_value(value: Any) -> str:
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}={_text_value(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ", ".join(_text_value(v) for v in value) + "]"
    if isinstance(value, bool) or value is None:
        return str(value)
    if isinstance(value, int):
        return f"0x{value:x}"
    return str(value)


def _text_message(head: str, record: dict[str, Any]) -> str:
    """`head` then SPDM(version) CODE (fields)."""
    if "version" in record:
        head += f"SPDM({record['version']}) "
    body = ", ".join(f"{k}={_text_value(v)}" for k, v in record.get("fields", {}).items())
    return f"{head}{record['code']} ({body})"


def _text(record: dict[str, Any], item: CapturedMessage) -> str:
    arrow = item.direction.arrow if item.direction else "?"
    head = f"{record['index']} {arrow} {item.transport} "
    if "session_id" in record:
        head += f"SECURED(0x{record['session_id']:08x}, {record['keys']} keys) "
    line = _text_message(head, record)
    if "carried" in record:
        line = _text_message(f"{line} / ", record["carried"])
    if "mel" in record:
        line += f" MEL {_text_value(record['mel'])}"
    if "mel_error" in record:
        line += f" MEL: {record['mel_error']}"
    if "error" in record:
        line += f" ERROR: {record['error']}"
    return line


def _add_mel(reads: _MelReads, record: dict[str, Any], item: CapturedMessage, opened: ReplayRecord | None) -> None:
    """Feed what the record holds (the message a chunk transfer completed, or a decrypted one) to `reads`."""
    if opened is not None and opened.secured:
        message, carried, session = opened.message, opened.carried, opened.session_id
    else:
        message, carried, session = item.message, item.carried, None
    shown = carried.message if carried is not None else message
    if shown is not None:
        reads.add(record, shown, session)


def _carried_context(
    replayer: SessionReplayer | None, item: CapturedMessage, opened: ReplayRecord | None
) -> CodecContext | None:
    """The decode context of what the record's message carries, as the connection followed so far
    has it (`FlowDecoder.carried_context`: DELIVER_ENCAPSULATED_RESPONSE holds the requester's answer)."""
    if replayer is None:
        return None
    shown = item.message
    if opened is not None and opened.secured and opened.message is not None:
        shown = opened.message
    return None if shown is None else replayer.connection.flow.carried_context(shown)


def run(
    path: str | os.PathLike[str], *, as_json: bool, out: TextIO, err: TextIO, secrets: CaptureSecrets | None = None
) -> int:
    """Print every record of the capture at `path`; return the exit code.

    With `secrets` (PSK, DHE secrets in session order) secured records are decrypted and shown.
    """
    try:
        pcap = read_pcap(path)
    except OSError as error:
        err.write(f"spdm dump: cannot read {path}: {error.strerror or error}\n")
        return 2
    except DecodeError as error:
        err.write(f"spdm dump: {path} is not a usable capture: {error}\n")
        return 2
    failures: list[tuple[int, str]] = []
    replayer = SessionReplayer(secrets) if secrets is not None else None
    mel = _MelReads()
    try:
        for item in messages(pcap):
            opened = replayer.feed(item) if replayer is not None and item.error is None else None
            record = describe(item, opened, _carried_context(replayer, item, opened))
            _add_mel(mel, record, item, opened)
            out.write((json.dumps(record) if as_json else _text(record, item)) + "\n")
            if "error" in record or "mel_error" in record:
                failures.append((item.index, record.get("error") or record["mel_error"]))
    except DecodeError as error:
        err.write(f"spdm dump: {path}: {error}\n")
        return 2
    for index, reason in failures:
        err.write(f"spdm dump: record {index} did not decode: {reason}\n")
    return 1 if failures else 0
