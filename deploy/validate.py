#!/usr/bin/env python3
"""Validate Kubernetes manifests offline, the way CI checks the chart and the examples.

* Built-in kinds: ``kubernetes-validate`` in strict mode (unknown fields are errors)
  against a chosen Kubernetes version's OpenAPI schemas.
* ``fma.llm-d.ai`` objects: the CRDs' ``openAPIV3Schema`` (from ``crds/``, or from
  CustomResourceDefinitions in the same input), with unknown fields made errors wherever
  the schema does not preserve them, as ``kubectl apply --validate=strict`` would.
* Kinds of other CRDs (e.g. a ServiceMonitor): only apiVersion/kind/metadata.name.

Usage: ``python deploy/validate.py [--k8s-version 1.33.0] [--crds DIR] FILE|- ...``
Exit 0 when every object is valid; otherwise each problem is printed with the object.
"""

from __future__ import annotations

import argparse
import copy
import sys
from pathlib import Path
from typing import Any, Iterable

import yaml

ROOT = Path(__file__).resolve().parent.parent
FMA_GROUP = "fma.llm-d.ai"
# API groups whose kinds kubernetes-validate knows (the built-in Kubernetes API).
BUILTIN_GROUPS = {
    "", "apps", "batch", "autoscaling", "policy", "rbac.authorization.k8s.io",
    "admissionregistration.k8s.io", "apiextensions.k8s.io", "coordination.k8s.io",
    "networking.k8s.io", "scheduling.k8s.io", "storage.k8s.io", "discovery.k8s.io",
    "events.k8s.io", "node.k8s.io", "certificates.k8s.io", "flowcontrol.apiserver.k8s.io",
    "resource.k8s.io",
}
DEFAULT_K8S_VERSION = "1.33.0"


def load_documents(texts: Iterable[tuple[str, str]]) -> list[tuple[str, dict[str, Any]]]:
    """(source, YAML text) pairs → (source, object) for every non-empty document; Lists flattened."""
    out: list[tuple[str, dict[str, Any]]] = []
    for source, text in texts:
        for doc in yaml.safe_load_all(text):
            if not doc:
                continue
            if not isinstance(doc, dict):
                raise ValueError(f"{source}: a document is a {type(doc).__name__}, not an object")
            if doc.get("kind", "").endswith("List") and isinstance(doc.get("items"), list):
                out += [(source, item) for item in doc["items"]]
            else:
                out.append((source, doc))
    return out


def _strict(schema: Any) -> Any:
    """Copy of a structural schema where objects with properties reject unknown fields."""
    if isinstance(schema, list):
        return [_strict(s) for s in schema]
    if not isinstance(schema, dict):
        return schema
    s = {k: _strict(v) for k, v in schema.items()}
    if (
        "properties" in s
        and "additionalProperties" not in s
        and not s.get("x-kubernetes-preserve-unknown-fields")
    ):
        s["additionalProperties"] = False
    if s.get("x-kubernetes-int-or-string"):
        s.pop("type", None)
        s["anyOf"] = [{"type": "integer"}, {"type": "string"}]
    return s


class CrdSchemas:
    """Per (group, version, kind) the strict JSON schema of a CRD's served version."""

    def __init__(self, crds: Iterable[dict[str, Any]] = ()) -> None:
        self.schemas: dict[tuple[str, str, str], dict[str, Any]] = {}
        for crd in crds:
            self.add(crd)

    @classmethod
    def from_dir(cls, directory: Path) -> "CrdSchemas":
        files = sorted(directory.glob("*.yaml")) + sorted(directory.glob("*.yml"))
        objs = load_documents((str(f), f.read_text()) for f in files)
        return cls(o for _, o in objs if o.get("kind") == "CustomResourceDefinition")

    def add(self, crd: dict[str, Any]) -> None:
        spec = crd.get("spec", {})
        for version in spec.get("versions", []):
            schema = (version.get("schema") or {}).get("openAPIV3Schema")
            if version.get("served", True) and schema:
                strict = _strict(copy.deepcopy(schema))
                # metadata is the API server's; the CRD schema never describes it.
                strict.setdefault("properties", {})["metadata"] = {"type": "object"}
                strict["properties"].setdefault("apiVersion", {"type": "string"})
                strict["properties"].setdefault("kind", {"type": "string"})
                key = (spec.get("group", ""), version["name"], spec.get("names", {}).get("kind", ""))
                self.schemas[key] = strict

    def get(self, api_version: str, kind: str) -> dict[str, Any] | None:
        group, _, version = api_version.rpartition("/")
        return self.schemas.get((group, version, kind))


def _errors_of_custom(obj: dict[str, Any], schema: dict[str, Any]) -> list[str]:
    import jsonschema

    validator = jsonschema.Draft7Validator(schema)
    errors = sorted(validator.iter_errors(obj), key=lambda e: list(e.absolute_path))
    return [f"{'.'.join(str(p) for p in e.absolute_path) or '<root>'}: {e.message}" for e in errors]


def _errors_of_builtin(obj: dict[str, Any], k8s_version: str) -> list[str]:
    import kubernetes_validate

    try:
        kubernetes_validate.validate(obj, k8s_version, strict=True)
    except kubernetes_validate.ValidationError as exc:
        path = ".".join(str(p) for p in getattr(exc, "path", [])) or "<root>"
        return [f"{path}: {exc.message}"]
    return []


def validate_objects(objs: Iterable[tuple[str, dict[str, Any]]], *, k8s_version: str = DEFAULT_K8S_VERSION,
                     crds: CrdSchemas | None = None) -> list[str]:
    """Every problem as ``"<source> <Kind>/<name>: <path>: <message>"``; [] when all are valid."""
    objs = list(objs)
    crds = crds or CrdSchemas()
    for _, o in objs:  # CRDs in the same stream count too
        if o.get("kind") == "CustomResourceDefinition":
            crds.add(o)
    problems: list[str] = []
    for source, obj in objs:
        api_version, kind = obj.get("apiVersion", ""), obj.get("kind", "")
        name = (obj.get("metadata") or {}).get("name") or (obj.get("metadata") or {}).get("generateName")
        where = f"{source} {kind or '?'}/{name or '?'}"
        if not api_version or not kind or not name:
            problems.append(f"{where}: apiVersion, kind and metadata.name (or generateName) are required")
            continue
        group = api_version.rpartition("/")[0]
        if group in BUILTIN_GROUPS:
            errs = _errors_of_builtin(obj, k8s_version)
        elif (schema := crds.get(api_version, kind)) is not None:
            errs = _errors_of_custom(obj, schema)
        elif group == FMA_GROUP:
            errs = [f"no CRD schema known for {api_version} {kind} (is crds/ populated?)"]
        else:
            errs = []  # another project's CRD: the checks above are all we can do
        problems += [f"{where}: {e}" for e in errs]
    return problems


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("files", nargs="+", help="manifest files, or - for stdin")
    p.add_argument("--k8s-version", default=DEFAULT_K8S_VERSION, help="Kubernetes schema version")
    p.add_argument("--crds", type=Path, default=ROOT / "crds", help="directory of CRD YAML files")
    args = p.parse_args(argv)
    texts = [("<stdin>", sys.stdin.read()) if f == "-" else (f, Path(f).read_text()) for f in args.files]
    objs = load_documents(texts)
    problems = validate_objects(objs, k8s_version=args.k8s_version, crds=CrdSchemas.from_dir(args.crds))
    for line in problems:
        print(line, file=sys.stderr)
    print(f"{len(objs)} objects, {len(problems)} problems", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
