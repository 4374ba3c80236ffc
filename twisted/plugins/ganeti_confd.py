from twisted.application.service import ServiceMaker

ganeti_confd = ServiceMaker(
    "Ganeti configuration daemon",
    "ganeti.confd.tap",
    "Ganeti configuration daemon (signed UDP queries)",
    "ganeti-confd",
)
