"""Discovery documents (``/version``, ``/api``, ``/apis``, resource lists) and the
``meta.k8s.io/v1 Table`` rendering that ``kubectl get`` asks for."""

from __future__ import annotations

import time
from calendar import timegm
from typing import Any, Iterable

from fma.kube.emulator.resources import Resource

Obj = dict[str, Any]
VERSION = {"major": "1", "minor": "37", "gitVersion": "v1.37.0-fma-emulator", "gitCommit": "0" * 40,
           "gitTreeState": "clean", "buildDate": "2025-01-01T00:00:00Z", "goVersion": "python",
           "compiler": "cpython", "platform": "linux/amd64"}


def api_versions(host: str) -> Obj:
    return {"kind": "APIVersions", "versions": ["v1"],
            "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": host}]}


def api_groups(resources: Iterable[Resource]) -> Obj:
    groups: dict[str, list[str]] = {}
    for r in resources:
        if r.group:
            vs = groups.setdefault(r.group, [])
            if r.version not in vs:
                vs.append(r.version)
    out = []
    for g, vs in sorted(groups.items()):
        versions = [{"groupVersion": f"{g}/{v}", "version": v} for v in vs]
        out.append({"name": g, "versions": versions, "preferredVersion": versions[0]})
    return {"kind": "APIGroupList", "apiVersion": "v1", "groups": out}


def api_group(group: str, resources: Iterable[Resource]) -> Obj | None:
    doc = api_groups(r for r in resources if r.group == group)
    groups = doc["groups"]
    return {"kind": "APIGroup", "apiVersion": "v1", **groups[0]} if groups else None


def resource_list(group: str, version: str, resources: Iterable[Resource]) -> Obj:
    gv = f"{group}/{version}" if group else version
    items: list[Obj] = []
    for r in resources:
        if r.group == group and r.version == version:
            items.extend(r.discovery())
    return {"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": gv, "resources": items}


# ------------------------------------------------------------------ tables
def _age(ts: str | None) -> str:
    if not ts:
        return "<unknown>"
    try:
        secs = max(0, int(time.time() - timegm(time.strptime(ts, "%Y-%m-%dT%H:%M:%SZ"))))
    except ValueError:
        return "<unknown>"
    if secs < 120:
        return f"{secs}s"
    if secs < 7200:
        return f"{secs // 60}m"
    if secs < 172800:
        return f"{secs // 3600}h"
    return f"{secs // 86400}d"


def _path(obj: Obj, path: str) -> Any:
    if path == "$ready":
        cs = (obj.get("status") or {}).get("containerStatuses") or []
        total = len((obj.get("spec") or {}).get("containers") or [])
        return f"{sum(1 for c in cs if c.get('ready'))}/{total}"
    cur: Any = obj
    for p in path.strip(".").split("."):
        if not isinstance(cur, dict):
            return None
        cur = cur.get(p)
    return cur


def table(r: Resource, objs: list[Obj], rv: str | None, headers: bool = True) -> Obj:
    cols = [{"name": "Name", "type": "string", "format": "name", "description": "Name", "priority": 0}]
    cols += [{"name": c["name"], "type": c.get("type", "string"), "format": "", "description": c["name"],
              "priority": c.get("priority", 0)} for c in r.columns]
    cols.append({"name": "Age", "type": "string", "format": "", "description": "Age", "priority": 0})
    rows = []
    for o in objs:
        md = o.get("metadata") or {}
        cells: list[Any] = [md.get("name")]
        for c in r.columns:
            v = _path(o, c["jsonPath"])
            if r.key == "/pods" and c["name"] == "Status" and md.get("deletionTimestamp"):
                v = "Terminating"
            cells.append("<none>" if v is None and c.get("type") == "string" else v)
        cells.append(_age(md.get("creationTimestamp")))
        rows.append({"cells": cells, "object": o})
    out: Obj = {"kind": "Table", "apiVersion": "meta.k8s.io/v1", "metadata": {"resourceVersion": rv or ""},
                "columnDefinitions": cols if headers else [], "rows": rows}
    return out


# ------------------------------------------------------------------ OpenAPI v3 (what kubectl checks)
def _gv_path(group: str, version: str) -> str:
    return f"apis/{group}/{version}" if group else f"api/{version}"


def openapi_v3_root(resources: Iterable[Resource]) -> Obj:
    """The ``/openapi/v3`` index: one document per group-version."""
    paths = {}
    for r in resources:
        p = _gv_path(r.group, r.version)
        paths[p] = {"serverRelativeURL": f"/openapi/v3/{p}?hash=fma"}
    return {"paths": paths}


def openapi_v3_gv(group: str, version: str, resources: Iterable[Resource]) -> Obj | None:
    """A minimal group-version document: PATCH operations that accept ``fieldValidation``
    (so kubectl validates server-side), plus CRD schemas for custom kinds."""
    paths: Obj = {}
    schemas: Obj = {}
    found = False
    for r in resources:
        if r.group != group or r.version != version:
            continue
        found = True
        base = f"/{_gv_path(group, version)}/" + ("namespaces/{namespace}/" if r.namespaced else "")
        gvk = {"group": group, "version": version, "kind": r.kind}
        params = [{"name": n, "in": "query", "schema": {"type": "string"}, "uniqueItems": True}
                  for n in ("dryRun", "fieldManager", "fieldValidation", "force")]
        op = {"x-kubernetes-group-version-kind": gvk, "x-kubernetes-action": "patch", "parameters": params,
              "operationId": f"patch{r.kind}", "responses": {"200": {"description": "OK"}}}
        paths[f"{base}{r.plural}/{{name}}"] = {"patch": op}
    if not found:
        return None
    return {"openapi": "3.0.0", "info": {"title": "Kubernetes (fma emulator)", "version": VERSION["gitVersion"]},
            "paths": paths, "components": {"schemas": schemas}}
