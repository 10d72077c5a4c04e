"""Scenarios: a YAML timeline of requesters created and deleted, waits, and faults.

```yaml
name: demo
description: one line a person reads
time_scale: 10            # simulator speed-up (the sim engine's --time-scale)
cluster: {nodes: 1, gpus_per_node: 2}   # optional: the size it was written for (flags override)
models: {a: meta-llama/Llama-3.1-8B-Instruct, b: Qwen/Qwen3-8B}   # aliases (catalog names)
steps:
  - create: direct-1      # a requester; mode direct (server-patch) or launcher (an ISC)
    mode: direct
    model: a
    gpus: 1
    expect: cold          # optional: the start kind the scenario expects (checked, reported)
  - wait: ready           # ready | gone | <seconds>; `for: [names]` (default: all touched since the last wait)
  - delete: direct-1
  - fault: {kill: direct-1}   # SIGKILL the pod's processes (the kubelet restarts them)
  - repeat: {times: 3, steps: [...]}   # `{i}` in names becomes 0, 1, 2
```
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

BUILTIN_DIR = Path(__file__).resolve().parent / "scenarios"
START_KINDS = ("hot", "warm", "cold")


class ScenarioError(ValueError):
    """A scenario file that cannot be run; the message names the file and the step."""


@dataclass(frozen=True)
class Step:
    op: str                 # create | delete | wait | sleep | fault
    name: str = ""          # requester (create/delete/fault)
    mode: str = "direct"
    model: str = ""
    gpus: int = 1
    port: int = 8000
    expect: str = ""
    until: str = ""         # wait: ready | gone
    names: tuple[str, ...] = ()
    seconds: float = 0.0
    timeout: float = 120.0
    fault: str = ""


@dataclass
class Scenario:
    name: str
    description: str
    steps: list[Step]
    models: dict[str, str] = field(default_factory=dict)
    time_scale: float = 10.0
    source: str = ""
    nodes: int | None = None          # cluster size this scenario was written for (flags override)
    gpus_per_node: int | None = None
    # A LauncherPopulationPolicy the run creates first: {per_node: N, node_selector: {labels}}.
    # Launchers that the populator keeps are what make warm (and later hot) starts possible.
    launchers: dict[str, Any] = field(default_factory=dict)

    def model_of(self, alias: str) -> str:
        return self.models.get(alias, alias)

    def requester_names(self) -> list[str]:
        return [s.name for s in self.steps if s.op == "create"]


def builtin_names() -> list[str]:
    return sorted(p.stem for p in BUILTIN_DIR.glob("*.yaml"))


def load(ref: str) -> Scenario:
    """A built-in scenario by name, or a YAML file by path."""
    path = Path(ref)
    if not path.exists():
        path = BUILTIN_DIR / f"{ref}.yaml"
        if not path.exists():
            raise ScenarioError(f"no scenario {ref!r}: not a file, and the built-ins are {builtin_names()}")
    try:
        doc = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        raise ScenarioError(f"{path}: not YAML: {exc}") from exc
    return parse(doc, str(path))


def _expand(raw: list[Any], where: str, i: int | None = None) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for n, item in enumerate(raw):
        if not isinstance(item, dict):
            raise ScenarioError(f"{where}: step {n + 1} must be a mapping, got {item!r}")
        item = copy.deepcopy(item)
        if i is not None:
            item = {k: (v.replace("{i}", str(i)) if isinstance(v, str) else v) for k, v in item.items()}
            if isinstance(item.get("for"), list):
                item["for"] = [str(x).replace("{i}", str(i)) for x in item["for"]]
        if "repeat" in item:
            rep = item["repeat"] or {}
            times = int(rep.get("times", 1))
            for k in range(times):
                out.extend(_expand(list(rep.get("steps") or []), f"{where} repeat", k))
        else:
            out.append(item)
    return out


def parse(doc: Any, source: str = "<scenario>") -> Scenario:
    if not isinstance(doc, dict):
        raise ScenarioError(f"{source}: a scenario is a mapping with `steps`")
    steps: list[Step] = []
    models = {str(k): str(v) for k, v in (doc.get("models") or {}).items()}
    for n, item in enumerate(_expand(list(doc.get("steps") or []), source), 1):
        where = f"{source}: step {n} {item}"
        try:
            steps.append(_step(item))
        except (KeyError, TypeError, ValueError) as exc:
            raise ScenarioError(f"{where}: {exc}") from exc
    if not steps:
        raise ScenarioError(f"{source}: no steps")
    created: set[str] = set()
    for s in steps:
        if s.op == "create":
            if s.name in created:
                raise ScenarioError(f"{source}: requester {s.name!r} created twice (delete and wait `gone` first, "
                                    f"or use another name)")
            created.add(s.name)
    return Scenario(name=str(doc.get("name") or Path(source).stem), description=str(doc.get("description") or ""),
                    steps=steps, models=models, time_scale=float(doc.get("time_scale") or 10.0), source=source,
                    nodes=(doc.get("cluster") or {}).get("nodes"),
                    gpus_per_node=(doc.get("cluster") or {}).get("gpus_per_node"),
                    launchers=_launchers(doc.get("launchers"), source))


def _launchers(raw: Any, source: str) -> dict[str, Any]:
    if raw is None:
        return {}
    if not isinstance(raw, dict) or not isinstance(raw.get("per_node"), int) or raw["per_node"] < 0:
        raise ScenarioError(f"{source}: `launchers` must be a mapping with an integer `per_node` >= 0, got {raw!r}")
    sel = raw.get("node_selector") or {}
    if not isinstance(sel, dict):
        raise ScenarioError(f"{source}: `launchers.node_selector` must be a mapping of labels, got {sel!r}")
    return {"per_node": raw["per_node"], "node_selector": {str(k): str(v) for k, v in sel.items()}}


def _step(item: dict[str, Any]) -> Step:
    if "create" in item:
        mode = str(item.get("mode", "direct"))
        if mode not in ("direct", "launcher"):
            raise ValueError(f"mode must be direct or launcher, got {mode!r}")
        expect = str(item.get("expect") or "")
        if expect and expect not in START_KINDS:
            raise ValueError(f"expect must be one of {START_KINDS}, got {expect!r}")
        if not item.get("model"):
            raise ValueError("create needs a model (a catalog name or an alias from `models`)")
        return Step("create", name=str(item["create"]), mode=mode, model=str(item["model"]),
                    gpus=int(item.get("gpus", 1)), port=int(item.get("port", 8000 if mode == "direct" else 8005)),
                    expect=expect)
    if "delete" in item:
        return Step("delete", name=str(item["delete"]))
    if "wait" in item:
        w = item["wait"]
        names = tuple(str(x) for x in (item.get("for") or ()))
        timeout = float(item.get("timeout", 120))
        if isinstance(w, (int, float)):
            return Step("sleep", seconds=float(w))
        if w not in ("ready", "gone"):
            raise ValueError(f"wait must be ready, gone or a number of seconds, got {w!r}")
        return Step("wait", until=str(w), names=names, timeout=timeout)
    if "sleep" in item:
        return Step("sleep", seconds=float(item["sleep"]))
    if "fault" in item:
        f = item["fault"] or {}
        if "kill" not in f:
            raise ValueError("fault supports {kill: <requester or pod name>}")
        return Step("fault", name=str(f["kill"]), fault="kill")
    raise ValueError("a step is one of create, delete, wait, sleep, fault, repeat")
