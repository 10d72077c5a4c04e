"""Render a lifecycle's transition table (data) as text: table, Mermaid or dot."""

from __future__ import annotations

from fma.statemachines.base import Lifecycle


def _rows(cls: type[Lifecycle]) -> list[tuple[str, str, str, str, str, str]]:
    rows = []
    for t in cls.table:
        for src in t.sources:
            dst = (t.dest or src).value
            rows.append((src.value, t.trigger, dst, t.kind, ",".join(t.effects), t.guard or ""))
    return rows


def render(cls: type[Lifecycle], fmt: str = "table") -> str:
    if fmt == "mermaid":
        lines = ["stateDiagram-v2", f"    [*] --> {cls.initial.value}"]
        for src, trig, dst, kind, effects, guard in _rows(cls):
            label = trig + (f" [{guard}]" if guard else "") + (f" / {effects}" if effects else "")
            lines.append(f"    {src} --> {dst}: {label}")
        for s in sorted(cls.final, key=lambda s: s.value):
            lines.append(f"    {s.value} --> [*]")
        return "\n".join(lines)
    if fmt == "dot":
        lines = [f'digraph "{cls.name}" {{', "  rankdir=LR;", '  "__start" [shape=point];',
                 f'  "__start" -> "{cls.initial.value}";']
        for s in cls.States:
            shape = "doublecircle" if s in cls.final else "circle"
            lines.append(f'  "{s.value}" [shape={shape}];')
        for src, trig, dst, kind, effects, guard in _rows(cls):
            style = "solid" if kind == "command" else "dashed"
            label = trig + (f" [{guard}]" if guard else "")
            lines.append(f'  "{src}" -> "{dst}" [label="{label}", style={style}];')
        lines.append("}")
        return "\n".join(lines)
    if fmt != "table":
        raise ValueError(f"unknown format {fmt!r}")
    head = ("from", "trigger", "to", "kind", "effects", "guard")
    rows = [head] + _rows(cls)
    widths = [max(len(r[i]) for r in rows) for i in range(len(head))]
    out = [f"lifecycle {cls.name}: initial {cls.initial.value}; final "
           + (", ".join(sorted(s.value for s in cls.final)) or "none")]
    for i, r in enumerate(rows):
        out.append("  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip())
        if i == 0:
            out.append("  ".join("-" * w for w in widths))
    return "\n".join(out)
