from twisted.application.service import ServiceMaker

ganeti_rapi = ServiceMaker(
    "Ganeti remote API",
    "ganeti.rapi.tap",
    "Ganeti remote API daemon (RAPI version 2 over HTTPS)",
    "ganeti-rapi",
)
