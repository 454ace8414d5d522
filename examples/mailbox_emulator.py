"""An SPDM device and a CDAT table behind an emulated PCIe DOE mailbox, driven through its registers.

The device side is `DoeMailbox`: the DOE extended capability as six DWORD registers, hosting
discovery, CMA/SPDM (our `Responder`) and CXL Table Access (a small CDAT). The host side is
`DoeHostLink`, which touches nothing but ``read32`` / ``write32``, as Linux's DOE driver does.
On top: an SPDM requester authenticates the device and opens a secure session; then two clients
share the mailbox through a `DoeMediator` (the kernel reads the CDAT; a user-space tool may use
CMA but not CDAT).

Run: ``python examples/mailbox_emulator.py``
"""

from __future__ import annotations

import time
from dataclasses import replace

from spdm.cdat import CXL_TABLE_ACCESS, CXL_VENDOR_ID, CdatResponder, build_cdat, dslbis, dsmas, read_cdat
from spdm.requester import Requester, RequesterConfig
from spdm.responder import Responder, demo_config
from spdm.transport.doe import PCI_SIG_VENDOR_ID, DoeTransport, DoeType
from spdm.transport.doe_host import DoeHostLink
from spdm.transport.mailbox import DoeMailbox
from spdm.transport.mediator import DoeAccessDenied, DoeMediator

CDAT = (CXL_VENDOR_ID, CXL_TABLE_ACCESS)
CMA = [(PCI_SIG_VENDOR_ID, DoeType.CMA_SPDM), (PCI_SIG_VENDOR_ID, DoeType.SECURED_CMA_SPDM)]


class CountingRegisters:
    """The register interface as the host sees it, counting every DWORD access."""

    def __init__(self, mailbox: DoeMailbox) -> None:
        self.mailbox = mailbox
        self.accesses = 0

    def read32(self, offset: int) -> int:
        self.accesses += 1
        return self.mailbox.read32(offset)

    def write32(self, offset: int, value: int) -> None:
        self.accesses += 1
        self.mailbox.write32(offset, value)


def main() -> None:
    started = time.perf_counter()

    # The device: an SPDM responder (DOE pads to a DWORD: 3 bytes of padding allowed) and a CDAT.
    config = replace(demo_config(sessions=True), max_padding=3)
    table = build_cdat(
        [
            dsmas(handle=0, dpa_base=0, dpa_length=1 << 30),
            dslbis(handle=0, data_type=0, entry_base_unit=100, entries=(150, 0, 0)),  # 15 ns access latency
        ]
    )
    mailbox = DoeMailbox()
    mailbox.register_spdm(Responder(config).respond)
    mailbox.register(*CDAT, CdatResponder(table))

    # The host: registers only.
    registers = CountingRegisters(mailbox)
    link = DoeHostLink(registers)
    listed = ", ".join(f"{vendor:04x}:{kind:02x}" for vendor, kind in link.protocols)
    print(f"DOE discovery (version {link.discovery_version}): {listed}")

    requester = Requester(
        DoeTransport(link), RequesterConfig.with_sessions(trust_anchors={0: config.slots[0].certificates[0]})
    )
    result = requester.authenticate()
    subject = result.chain.leaf.subject.rfc4514_string()
    blocks = len(result.measurements.blocks) if result.measurements else 0
    print(f"authenticated: SPDM {result.negotiated.version >> 4}.{result.negotiated.version & 0xF}, leaf {subject}")
    print(f"signed measurements: {blocks} blocks")
    with requester.key_exchange(0) as session:
        session.heartbeat()
        inside = session.get_measurements(1, signed=False)
        print(f"session {session.session_id:#010x}: heartbeat ok, measurement {inside.blocks[0].index} read encrypted")
    print(f"session closed ({session.closed_reason})")
    print(f"CDAT over the same mailbox: {len(read_cdat(link))} bytes, checksum ok")

    # Sharing: one owner drives the registers, clients get policy-checked handles.
    mediator = DoeMediator(link, {"kernel": [CDAT, *CMA], "user-tool": CMA})
    kernel, tool = mediator.client("kernel"), mediator.client("user-tool")
    print(f"kernel reads the CDAT through the mediator: {read_cdat(kernel) == table}")
    try:
        read_cdat(tool)
    except DoeAccessDenied as denied:
        print(f"user-tool denied: {denied}")
    with tool.hold():  # one SPDM conversation at a time
        version = Requester(DoeTransport(tool)).init_connection().version
    print(f"user-tool negotiated SPDM {version >> 4}.{version & 0xF} through the mediator")

    elapsed = time.perf_counter() - started
    print(f"{registers.accesses} DWORD register accesses in {elapsed:.2f} s")


if __name__ == "__main__":
    main()
