"""Transports that carry SPDM messages: PCIe DOE data objects and MCTP framing.

The package will also hold the abstract transport that requesters and responders talk through;
the modules here are the sans-IO framing codecs those transports are built on.
"""
