"""Process descriptions read from the server: inputs with types, defaults and allowed values,
and the Python signature and docstring of the method generated for each process."""

import inspect
import re
from dataclasses import dataclass

def method_name(process_id):
    """The Python name of a process: ``ChangeDetect`` → ``change_detect``, ``SARChangeDetect``
    → ``sar_change_detect``."""
    return re.sub(r"(?<=[a-z])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])", "_", process_id).lower()


@dataclass(frozen=True)
class Parameter:
    """One input of a process."""

    name: str
    title: str
    description: str
    kind: str  # a JSON type, or "file" for rasters, archives and features
    default: object = None
    allowed: tuple = ()
    required: bool = False
    max_occurs: int = 1

    @classmethod
    def from_description(cls, name, description):
        schema = description.get("schema", {})
        variants = schema.get("anyOf") or schema.get("oneOf") or [schema]
        is_file = any("contentMediaType" in v for v in variants)
        return cls(name, description.get("title", name), description.get("description", ""),
                   "file" if is_file else schema.get("type", "string"), schema.get("default"),
                   tuple(schema.get("enum", ())), description.get("minOccurs", 1) > 0,
                   description.get("maxOccurs", 1) if isinstance(description.get("maxOccurs"), int) else 1)

    def describe(self):
        """One line: name, type, and what it takes."""
        kind = "file (local path, URL or server path)" if self.kind == "file" else self.kind
        if self.max_occurs > 1:
            kind = f"list of up to {self.max_occurs} {kind}"
        extra = [f"one of {', '.join(map(str, self.allowed))}"] if self.allowed else []
        extra += ["required"] if self.required else [f"default {self.default!r}"] if self.default is not None else []
        return f"{self.name}: {kind}{'; ' + '; '.join(extra) if extra else ''}. {self.title}"


@dataclass(frozen=True)
class Process:
    """A process as the server describes it."""

    id: str
    title: str
    description: str
    version: str
    inputs: tuple
    outputs: dict

    @classmethod
    def from_description(cls, document):
        inputs = tuple(Parameter.from_description(n, d) for n, d in document.get("inputs", {}).items())
        outputs = {n: d.get("title", n) for n, d in document.get("outputs", {}).items()}
        return cls(document["id"], document.get("title", ""), document.get("description", ""),
                   document.get("version", ""), inputs, outputs)

    def signature(self):
        """The Python signature of its method: required inputs first, all by keyword."""
        ordered = sorted(self.inputs, key=lambda p: not p.required)
        return inspect.Signature([
            inspect.Parameter(p.name, inspect.Parameter.KEYWORD_ONLY,
                              default=inspect.Parameter.empty if p.required else p.default)
            for p in ordered])

    def docstring(self):
        lines = [f"{self.title} ({self.id} {self.version}).", "", self.description, "", "Inputs:"]
        lines += [f"    {p.describe()}" for p in self.inputs]
        lines += ["", "Outputs:"] + [f"    {name}: {title}" for name, title in self.outputs.items()]
        lines += ["", "Returns a Job: job.result() waits for the outputs."]
        return "\n".join(lines)

    def __repr__(self):
        return self.docstring()

    def _repr_markdown_(self):  # a notebook shows the description as a table
        rows = "\n".join(f"| `{p.name}` | {p.kind} | {'yes' if p.required else repr(p.default)} | "
                         f"{', '.join(map(str, p.allowed))} | {p.title} |" for p in self.inputs)
        return (f"**{self.id}** {self.version}: {self.title}\n\n| input | type | required / default | allowed | "
                f"what |\n|---|---|---|---|---|\n{rows}\n\nOutputs: {', '.join(self.outputs)}")
