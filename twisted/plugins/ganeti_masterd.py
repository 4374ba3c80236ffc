from twisted.application.service import ServiceMaker

ganeti_masterd = ServiceMaker(
    "Ganeti master daemon",
    "ganeti.masterd.tap",
    "Ganeti master daemon (config, locks, job queue, LUXI)",
    "ganeti-masterd",
)
