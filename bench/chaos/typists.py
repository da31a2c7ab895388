"""The honest clients: tests/yjs.py's stock Yjs providers in one Node process
(typists.mjs), some of them typing unique markers and timing their arrival at the others."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from tests.yjs import YjsClients

SCRIPT = Path(__file__).resolve().parent / "typists.mjs"


@dataclass(frozen=True, slots=True)
class Delivery:
    """The first time a client other than its writer saw a marker."""

    marker: str
    phase: str
    """The phase the marker was typed in."""
    sender: str
    receiver: str
    ms: float


@dataclass(frozen=True, slots=True)
class Report:
    written: list[str]
    deliveries: list[Delivery]


class Typists(YjsClients):
    def __init__(self) -> None:
        super().__init__(script=SCRIPT)

    async def phase(self, name: str) -> None:
        """Markers typed from now on count as typed in ``name``."""
        await self.call("phase", name=name)

    async def watch(self, name: str) -> None:
        await self.call("watch", name=name)

    async def type(self, name: str, writer: int, rate: float) -> None:
        """``name`` types markers ``[writer.n]``, ``rate`` a second, until ``stop_typing``."""
        await self.call("type", name=name, writer=writer, rate=rate)

    async def hidden(self, name: str) -> int:
        """Places ``name``'s Y.Text counts but does not show (bench/chaos/hidden_content.py)."""
        return int(await self.call("hidden", name=name))

    async def stop_typing(self) -> int:
        return int(await self.call("stopTyping"))

    async def report(self) -> Report:
        raw = await self.call("report")
        return Report(raw["written"], [Delivery(*row) for row in raw["deliveries"]])
