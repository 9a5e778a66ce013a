"""Which process an execution ran, learnt from the records that say so and given to the
records of the same execution that do not.

A Boomi ``process_log.xml`` names its process once, in its first step ("Executing Process
Orders to SAP"), and the Platform API's execution record names it too; the per-shape
LogEvents in between carry only the execution ID. Without the name a catalog's ``process:``
stage never matches them and the execution's steps fall into flow ``unknown``. Only the
correlator sees every input (process logs and execution records are usually two), so it keeps
this map and fills the name in before it classifies an event.

An execution is one run of one process, so its ID is a safe key; a trace is not (one order
can pass through several processes). The map is bounded: an execution whose header was
forgotten, or read before a restart, keeps its steps without a process name.
"""

from __future__ import annotations

from collector.event import Event

# ID types that name one run of one process.
EXECUTION_ID_PREFIXES = ("boomi.exec:",)
MAX_EXECUTIONS = 100_000


class ProcessNames:
    def __init__(self, limit: int = MAX_EXECUTIONS):
        self.limit = limit
        self._names: dict[str, str] = {}  # execution ID -> process name, oldest first

    def fill(self, ev: Event) -> None:
        """Remember the event's process for its executions, or give it theirs."""
        executions = [i for i in ev.ids if i.startswith(EXECUTION_ID_PREFIXES)]
        if not executions:
            return
        if ev.service:
            for i in executions:
                if self._names.get(i) != ev.service:
                    self._names.pop(i, None)
                    self._names[i] = ev.service
            while len(self._names) > self.limit:
                del self._names[next(iter(self._names))]
            return
        for i in executions:
            name = self._names.get(i)
            if name is not None:
                ev.service = name
                return

    def __len__(self) -> int:
        return len(self._names)
