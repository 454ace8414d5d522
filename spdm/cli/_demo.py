"""`spdm demo`: a responder with the demo identity, authenticated by the requester, in one process."""

from __future__ import annotations

import argparse
from dataclasses import replace

from spdm.cli._requester import Inputs, run_requester
from spdm.messages.measurements import ALL_MEASUREMENTS
from spdm.requester import RequesterConfig
from spdm.responder import Responder, demo_config
from spdm.transport.doe import MAX_DW_PADDING, DoeMailboxResponder
from spdm.transport.socket import SocketLink, SocketServer

__all__ = ["run"]


def run(args: argparse.Namespace) -> int:
    del args  # `spdm demo` takes no options
    config = replace(demo_config(), max_padding=MAX_DW_PADDING)
    responder = Responder(config)
    server = SocketServer(DoeMailboxResponder(responder.respond), host="127.0.0.1", port=0).start()
    print(f"demo responder on 127.0.0.1:{server.port}; authenticating it over PCI DOE")
    try:
        options = argparse.Namespace(
            slot=0,
            measurements=ALL_MEASUREMENTS,
            get_csr=None,
            key_pair_info=[],
            mel=False,
            endpoint_info=None,
        )
        anchors = {0: config.slots[0].certificates[0]}
        link = SocketLink("127.0.0.1", server.port)
        try:
            status = run_requester(link, RequesterConfig(trust_anchors=anchors), options, Inputs())
            link.shutdown()
        finally:
            link.close()
    finally:
        server.stop(timeout=2)
    return status
