"""Validation with the API server's wording: structural-schema checks, pruning and
defaulting for custom resources, and the few built-in rules FMA relies on (names, pod
containers, pod spec immutability).

Errors are :class:`FieldError` lists; :func:`invalid_message` renders them the way the
real server does, e.g. ``InferenceServerConfig.fma.llm-d.ai "x" is invalid:
spec.modelServerConfig.port: Invalid value: 70000: spec.modelServerConfig.port in body
should be less than or equal to 65535``. ``x-kubernetes-validations`` rules run with
cel-python when it is installed (otherwise they are skipped, logged once).
"""

from __future__ import annotations

import copy
import json
import logging
import re
from dataclasses import dataclass
from typing import Any

log = logging.getLogger(__name__)
Obj = dict[str, Any]

_DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")


@dataclass
class FieldError:
    field: str
    kind: str  # Required | Invalid | Unsupported | Duplicate | Forbidden | TooMany
    value: Any = None
    detail: str = ""

    REASONS = {"Required": "FieldValueRequired", "Invalid": "FieldValueInvalid",
               "Unsupported": "FieldValueNotSupported", "Duplicate": "FieldValueDuplicate",
               "Forbidden": "FieldValueForbidden", "TooMany": "FieldValueTooMany"}

    def body(self) -> str:
        if self.kind == "Required":
            return "Required value" + (f": {self.detail}" if self.detail else "")
        if self.kind == "Forbidden":
            return f"Forbidden: {self.detail}"
        if self.kind == "Duplicate":
            return f"Duplicate value: {self.detail or go_repr(self.value)}"
        if self.kind == "Unsupported":
            return f"Unsupported value: {go_repr(self.value)}: {self.detail}"
        return f"Invalid value: {go_repr(self.value)}: {self.detail}"

    def __str__(self) -> str:
        return f"{self.field}: {self.body()}"

    def cause(self) -> Obj:
        return {"reason": self.REASONS.get(self.kind, "FieldValueInvalid"), "message": self.body(), "field": self.field}


def go_repr(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return json.dumps(v)
    if isinstance(v, str):
        return json.dumps(v)
    if isinstance(v, dict):
        return '"object"'
    if isinstance(v, list):
        return '"array"'
    return "null"


def invalid_message(kind_group: str, name: str, errors: list[FieldError]) -> str:
    if len(errors) == 1:
        return f'{kind_group} "{name}" is invalid: {errors[0]}'
    return f'{kind_group} "{name}" is invalid: [{", ".join(str(e) for e in errors)}]'


# ------------------------------------------------------------------ metadata / built-ins
def validate_name(name: str, field: str = "metadata.name", label: bool = False) -> list[FieldError]:
    if not name:
        return [FieldError(field, "Required", detail="name or generateName is required")]
    rx = _DNS_LABEL if label else _DNS_SUBDOMAIN
    if len(name) > (63 if label else 253) or not rx.match(name):
        what = "RFC 1123 label" if label else "RFC 1123 subdomain"
        return [FieldError(field, "Invalid", name,
                           f"a lowercase {what} must consist of lower case alphanumeric characters, '-' or '.', "
                           "and must start and end with an alphanumeric character")]
    return []


def validate_pod(pod: Obj) -> list[FieldError]:
    errs: list[FieldError] = []
    spec = pod.get("spec")
    if not isinstance(spec, dict):
        return [FieldError("spec", "Required")]
    containers = spec.get("containers")
    if not containers:
        return [FieldError("spec.containers", "Required")]
    seen: set[str] = set()
    for i, c in enumerate(containers):
        name = (c or {}).get("name")
        if not name:
            errs.append(FieldError(f"spec.containers[{i}].name", "Required"))
        elif name in seen:
            errs.append(FieldError(f"spec.containers[{i}].name", "Duplicate", name, go_repr(name)))
        else:
            seen.add(name)
        if not (c or {}).get("image"):
            errs.append(FieldError(f"spec.containers[{i}].image", "Required"))
    return errs


_MUTABLE_POD_SPEC = ("activeDeadlineSeconds", "tolerations", "terminationGracePeriodSeconds")


def validate_pod_update(old: Obj, new: Obj) -> list[FieldError]:
    """Pod specs are immutable except images, activeDeadlineSeconds and added tolerations."""
    a, b = copy.deepcopy(old.get("spec") or {}), copy.deepcopy(new.get("spec") or {})
    for spec in (a, b):
        for key in ("containers", "initContainers"):
            for c in spec.get(key) or []:
                c.pop("image", None)
        for key in _MUTABLE_POD_SPEC:
            spec.pop(key, None)
    if a.get("nodeName") is None and b.get("nodeName") is not None:
        a["nodeName"] = b["nodeName"]  # binding is its own subresource; tolerate set-once
    if a != b:
        return [FieldError("spec", "Forbidden", detail="pod updates may not change fields other than "
                           "`spec.containers[*].image`,`spec.initContainers[*].image`,`spec.activeDeadlineSeconds`,"
                           "`spec.tolerations` (only additions to existing tolerations),"
                           "`spec.terminationGracePeriodSeconds` (allow it to be set to 1 if it was previously "
                           "negative)")]
    return []


# ------------------------------------------------------------------ structural schemas
class SchemaValidator:
    """Validates, prunes and defaults one CRD version's ``openAPIV3Schema``."""

    def __init__(self, schema: Obj) -> None:
        self.schema = schema or {}
        self._cel: dict[str, Any] = {}

    def prepare(self, obj: Obj) -> list[str]:
        """Prune unknown fields and apply defaults in place; returns the pruned paths."""
        unknown: list[str] = []
        for key in ("apiVersion", "kind", "metadata"):
            pass
        self._prune(obj, self.schema, "", unknown, top=True)
        return unknown

    def _prune(self, v: Any, s: Obj, path: str, unknown: list[str], top: bool = False) -> None:
        if isinstance(v, dict):
            props = s.get("properties")
            addl = s.get("additionalProperties")
            if props is not None or (addl is None and not s.get("x-kubernetes-preserve-unknown-fields")):
                props = props or {}
                for k, sub in props.items():
                    if k not in v and isinstance(sub, dict) and "default" in sub:
                        v[k] = copy.deepcopy(sub["default"])
                if not s.get("x-kubernetes-preserve-unknown-fields") and not isinstance(addl, dict):
                    for k in list(v):
                        if k not in props and not (top and k in ("apiVersion", "kind", "metadata")):
                            unknown.append(f"{path}.{k}".lstrip("."))
                            del v[k]
                for k, sub in props.items():
                    if k in v and isinstance(sub, dict) and not (top and k == "metadata"):
                        self._prune(v[k], sub, f"{path}.{k}", unknown)
            if isinstance(addl, dict):
                for k in list(v):
                    if not props or k not in props:
                        self._prune(v[k], addl, f"{path}.{k}", unknown)
        elif isinstance(v, list) and isinstance(s.get("items"), dict):
            for i, item in enumerate(v):
                self._prune(item, s["items"], f"{path}[{i}]", unknown)

    def validate(self, obj: Obj) -> list[FieldError]:
        errs: list[FieldError] = []
        self._check(obj, self.schema, "", errs, top=True)
        return errs

    def _check(self, v: Any, s: Obj, path: str, errs: list[FieldError], top: bool = False) -> None:
        p = path.lstrip(".") or "<root>"
        if v is None:
            if not s.get("nullable"):
                errs.append(FieldError(p, "Invalid", None, f'{p} in body must be of type {s.get("type", "object")}: "null"'))
            return
        if s.get("x-kubernetes-int-or-string"):
            if not isinstance(v, (int, str)) or isinstance(v, bool):
                errs.append(FieldError(p, "Invalid", v, f"{p} in body must be of type integer-or-string"))
                return
            if isinstance(v, str) and "pattern" in s and not re.search(s["pattern"], v):
                errs.append(FieldError(p, "Invalid", v, f"{p} in body should match '{s['pattern']}'"))
            return
        t = s.get("type")
        ok = {"object": isinstance(v, dict), "array": isinstance(v, list), "string": isinstance(v, str),
              "boolean": isinstance(v, bool),
              "integer": isinstance(v, int) and not isinstance(v, bool) or (isinstance(v, float) and v.is_integer()),
              "number": isinstance(v, (int, float)) and not isinstance(v, bool)}.get(t, True) if t else True
        if not ok:
            errs.append(FieldError(p, "Invalid", _json_type(v), f'{p} in body must be of type {t}: "{_json_type(v)}"'))
            return
        if "enum" in s and v not in s["enum"]:
            errs.append(FieldError(p, "Unsupported", v, "supported values: " + ", ".join(go_repr(e) for e in s["enum"])))
        if isinstance(v, (int, float)) and not isinstance(v, bool):
            if "maximum" in s and (v > s["maximum"] or (s.get("exclusiveMaximum") and v >= s["maximum"])):
                errs.append(FieldError(p, "Invalid", v, f"{p} in body should be less than "
                                       f"{'' if s.get('exclusiveMaximum') else 'or equal to '}{s['maximum']}"))
            if "minimum" in s and (v < s["minimum"] or (s.get("exclusiveMinimum") and v <= s["minimum"])):
                errs.append(FieldError(p, "Invalid", v, f"{p} in body should be greater than "
                                       f"{'' if s.get('exclusiveMinimum') else 'or equal to '}{s['minimum']}"))
        if isinstance(v, str):
            if "minLength" in s and len(v) < s["minLength"]:
                errs.append(FieldError(p, "Invalid", v, f"{p} in body should be at least {s['minLength']} chars long"))
            if "maxLength" in s and len(v) > s["maxLength"]:
                errs.append(FieldError(p, "TooMany", v, f"{p} in body may not be longer than {s['maxLength']}"))
            if "pattern" in s and not re.search(s["pattern"], v):
                errs.append(FieldError(p, "Invalid", v, f"{p} in body should match '{s['pattern']}'"))
        if isinstance(v, list):
            if "minItems" in s and len(v) < s["minItems"]:
                errs.append(FieldError(p, "Invalid", len(v), f"{p} in body should have at least {s['minItems']} items"))
            if "maxItems" in s and len(v) > s["maxItems"]:
                errs.append(FieldError(p, "TooMany", len(v), f"must have at most {s['maxItems']} items"))
            items = s.get("items")
            if isinstance(items, dict):
                for i, item in enumerate(v):
                    self._check(item, items, f"{path}[{i}]", errs)
            lt = s.get("x-kubernetes-list-type")
            if lt == "map":
                keys = s.get("x-kubernetes-list-map-keys") or []
                seen: set[str] = set()
                for i, item in enumerate(v):
                    if not isinstance(item, dict):
                        continue
                    kv = {k: item.get(k) for k in keys if k in item}
                    sig = json.dumps(kv, sort_keys=True)
                    if sig in seen:
                        inner = ", ".join(f'"{k}":{go_repr(x)}' for k, x in kv.items())
                        errs.append(FieldError(f"{p}[{i}]", "Duplicate", kv,
                                               "map[string]interface {}{" + inner + "}"))
                    seen.add(sig)
            elif lt == "set":
                seen_s: set[str] = set()
                for i, item in enumerate(v):
                    sig = json.dumps(item, sort_keys=True)
                    if sig in seen_s:
                        errs.append(FieldError(f"{p}[{i}]", "Duplicate", item))
                    seen_s.add(sig)
        if isinstance(v, dict):
            for r in s.get("required") or []:
                if r not in v:
                    errs.append(FieldError(f"{path}.{r}".lstrip("."), "Required"))
            props = s.get("properties") or {}
            for k, sub in props.items():
                if k in v and not (top and k == "metadata") and isinstance(sub, dict):
                    self._check(v[k], sub, f"{path}.{k}", errs)
            addl = s.get("additionalProperties")
            if isinstance(addl, dict):
                for k, item in v.items():
                    if k not in props:
                        self._check(item, addl, f"{path}.{k}", errs)
        for rule in s.get("x-kubernetes-validations") or []:
            if not self._cel_ok(rule.get("rule", ""), v):
                msg = rule.get("message") or f"failed rule: {rule.get('rule')}"
                field = (path + rule.get("fieldPath", "")).lstrip(".") or "<root>"
                errs.append(FieldError(field, "Invalid", v, msg))

    def _cel_ok(self, rule: str, value: Any) -> bool:
        if not rule:
            return True
        try:
            import celpy  # type: ignore[import-not-found]
        except ImportError:
            if "__warned" not in self._cel:
                self._cel["__warned"] = True
                log.warning("cel-python missing: x-kubernetes-validations rules are not enforced")
            return True
        prg = self._cel.get(rule)
        if prg is None:
            env = celpy.Environment()
            prg = self._cel[rule] = env.program(env.compile(rule))
        try:
            return bool(prg.evaluate({"self": celpy.json_to_cel(value)}))
        except Exception as exc:  # noqa: BLE001 - a rule that cannot evaluate fails closed, like the API server
            log.debug("CEL rule %r failed on %r: %s", rule, value, exc)
            return False


def _json_type(v: Any) -> str:
    if isinstance(v, bool):
        return "boolean"
    if isinstance(v, int):
        return "integer"
    if isinstance(v, float):
        return "number"
    if isinstance(v, str):
        return "string"
    if isinstance(v, list):
        return "array"
    if isinstance(v, dict):
        return "object"
    return "null"
