from twisted.application.service import ServiceMaker

ganeti_noded = ServiceMaker(
    "Ganeti node daemon",
    "ganeti.noded.tap",
    "Ganeti node daemon (RPC over mutual TLS)",
    "ganeti-noded",
)
