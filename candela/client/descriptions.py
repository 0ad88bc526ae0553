"""Process descriptions, whichever protocol they were read from: inputs with types, defaults
and allowed values, outputs, and the Python signature and docstring of the method generated
for each process."""

from __future__ import annotations

import inspect
import re
from dataclasses import dataclass
from typing import Any

#: The kinds of input: JSON Schema types, and ``file`` for rasters, archives and features.
KINDS = ("string", "integer", "number", "boolean", "file")


def method_name(process_id: str) -> str:
    """The Python name of a process: ``ChangeDetect`` → ``change_detect``, ``SARChangeDetect``
    → ``sar_change_detect``."""
    return re.sub(r"(?<=[a-z])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])", "_", process_id).lower()


@dataclass(frozen=True)
class Parameter:
    """One input of a process. ``kind`` is one of :data:`KINDS`; ``formats`` are the media
    types a file input takes; ``twin`` names the literal input a WPS server also takes
    references to the file through (CANDELA's ``<name>_ref``), if any: hidden, as the file
    input takes references itself."""

    name: str
    title: str
    description: str
    kind: str
    default: Any = None
    allowed: tuple[Any, ...] = ()
    required: bool = False
    max_occurs: int = 1
    minimum: float | None = None
    maximum: float | None = None
    formats: tuple[str, ...] = ()
    twin: str | None = None

    def describe(self) -> str:
        """One line: name, type, and what it takes."""
        kind = "file (local path, URL or server path)" if self.kind == "file" else self.kind
        if self.max_occurs > 1:
            kind = f"list of up to {self.max_occurs} {kind}"
        extra = [f"one of {', '.join(map(str, self.allowed))}"] if self.allowed else []
        if self.minimum is not None or self.maximum is not None:
            extra.append(f"from {'-inf' if self.minimum is None else self.minimum} to "
                         f"{'inf' if self.maximum is None else self.maximum}")
        extra += ["required"] if self.required else [f"default {self.default!r}"] if self.default is not None else []
        return f"{self.name}: {kind}{'; ' + '; '.join(extra) if extra else ''}. {self.title}"


@dataclass(frozen=True)
class OutputSpec:
    """One output of a process: its ``media_types`` (none for a literal output)."""

    name: str
    title: str
    media_types: tuple[str, ...] = ()


@dataclass(frozen=True)
class Process:
    """A process as the server describes it; ``repr`` (and a notebook's display) show its
    inputs with types, defaults and allowed values."""

    id: str
    title: str
    description: str
    version: str
    inputs: tuple[Parameter, ...]
    outputs: tuple[OutputSpec, ...]

    def input(self, name: str) -> Parameter | None:
        return next((p for p in self.inputs if p.name == name), None)

    def signature(self) -> inspect.Signature:
        """The Python signature of its method: required inputs first, all by keyword."""
        ordered = sorted(self.inputs, key=lambda p: not p.required)
        return inspect.Signature([
            inspect.Parameter(p.name, inspect.Parameter.KEYWORD_ONLY,
                              default=inspect.Parameter.empty if p.required else p.default)
            for p in ordered])

    def docstring(self) -> str:
        lines = [f"{self.title} ({self.id} {self.version}).", "", self.description, "", "Inputs:"]
        lines += [f"    {p.describe()}" for p in self.inputs]
        lines += ["", "Outputs:"] + [f"    {o.name}: {o.title}" for o in self.outputs]
        lines += ["", "Returns a Job: job.result() waits for the outputs."]
        return "\n".join(lines)

    def __repr__(self) -> str:
        return self.docstring()

    def _repr_markdown_(self) -> str:  # a notebook shows the description as a table
        rows = "\n".join(f"| `{p.name}` | {p.kind} | {'yes' if p.required else repr(p.default)} | "
                         f"{', '.join(map(str, p.allowed))} | {p.title} |" for p in self.inputs)
        return (f"**{self.id}** {self.version}: {self.title}\n\n| input | type | required / default | allowed | "
                f"what |\n|---|---|---|---|---|\n{rows}\n\nOutputs: {', '.join(o.name for o in self.outputs)}")
