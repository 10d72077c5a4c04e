"""Decoding of Kubernetes protobuf request bodies (``application/vnd.kubernetes.protobuf``)
into the JSON-shaped dicts the rest of the emulator works on.

kubectl's typed clients send protobuf for built-in kinds whatever the server says in
discovery: ``kubectl create namespace``, ``create configmap``, ``create secret``, ``create
serviceaccount``, ``create role|clusterrole|rolebinding|clusterrolebinding``. The envelope is
the 4 magic bytes ``k8s\\0`` and a ``runtime.Unknown`` message (TypeMeta, raw bytes of the
object). Only the messages of the kinds above are described here (field numbers are those of
the Kubernetes API's ``generated.proto``); another kind is answered with 415 and a message
that says to use ``kubectl apply -f`` (JSON), which works for every kind.

Empty strings, zero generations and zero times are left out, as the JSON encoding's
``omitempty`` would.
"""

from __future__ import annotations

import base64
from datetime import datetime, timezone
from typing import Any

from fma.kube.emulator.errors import ApiError

MAGIC = b"k8s\x00"
CONTENT_TYPE = "application/vnd.kubernetes.protobuf"

# field number -> (JSON name, type); type is a scalar name, "msg:<Message>", "[]<type>" for a
# repeated field, "map:str" / "map:bytes" for map<string, string|bytes>, or "skip" (accepted, dropped)
Fields = dict[int, tuple[str, str]]
META = "msg:ObjectMeta"
MESSAGES: dict[str, Fields] = {
    "Unknown": {1: ("typeMeta", "msg:TypeMeta"), 2: ("raw", "rawbytes"), 3: ("contentEncoding", "string"),
                4: ("contentType", "string")},
    "TypeMeta": {1: ("apiVersion", "string"), 2: ("kind", "string")},
    "Time": {1: ("seconds", "int"), 2: ("nanos", "int")},
    "ObjectMeta": {1: ("name", "string"), 2: ("generateName", "string"), 3: ("namespace", "string"),
                   4: ("selfLink", "string"), 5: ("uid", "string"), 6: ("resourceVersion", "string"),
                   7: ("generation", "int"), 8: ("creationTimestamp", "time"), 9: ("deletionTimestamp", "time"),
                   10: ("deletionGracePeriodSeconds", "int"), 11: ("labels", "map:str"),
                   12: ("annotations", "map:str"), 13: ("ownerReferences", "[]msg:OwnerReference"),
                   14: ("finalizers", "[]string"), 17: ("managedFields", "skip")},
    "OwnerReference": {1: ("kind", "string"), 3: ("name", "string"), 4: ("uid", "string"),
                       5: ("apiVersion", "string"), 6: ("controller", "bool"), 7: ("blockOwnerDeletion", "bool")},
    "Namespace": {1: ("metadata", META), 2: ("spec", "msg:NamespaceSpec"), 3: ("status", "skip")},
    "NamespaceSpec": {1: ("finalizers", "[]string")},
    "ConfigMap": {1: ("metadata", META), 2: ("data", "map:str"), 3: ("binaryData", "map:bytes"),
                  4: ("immutable", "bool")},
    "Secret": {1: ("metadata", META), 2: ("data", "map:bytes"), 3: ("type", "string"), 4: ("stringData", "map:str"),
               5: ("immutable", "bool")},
    "ServiceAccount": {1: ("metadata", META), 2: ("secrets", "[]msg:ObjectReference"),
                       3: ("imagePullSecrets", "[]msg:LocalObjectReference"),
                       4: ("automountServiceAccountToken", "bool")},
    "ObjectReference": {1: ("kind", "string"), 2: ("namespace", "string"), 3: ("name", "string"), 4: ("uid", "string"),
                        5: ("apiVersion", "string"), 6: ("resourceVersion", "string"), 7: ("fieldPath", "string")},
    "LocalObjectReference": {1: ("name", "string")},
    "Role": {1: ("metadata", META), 2: ("rules", "[]msg:PolicyRule")},
    "ClusterRole": {1: ("metadata", META), 2: ("rules", "[]msg:PolicyRule"), 3: ("aggregationRule", "skip")},
    "PolicyRule": {1: ("verbs", "[]string"), 2: ("apiGroups", "[]string"), 3: ("resources", "[]string"),
                   4: ("resourceNames", "[]string"), 5: ("nonResourceURLs", "[]string")},
    "RoleBinding": {1: ("metadata", META), 2: ("subjects", "[]msg:Subject"), 3: ("roleRef", "msg:RoleRef")},
    "ClusterRoleBinding": {1: ("metadata", META), 2: ("subjects", "[]msg:Subject"), 3: ("roleRef", "msg:RoleRef")},
    "Subject": {1: ("kind", "string"), 2: ("apiGroup", "string"), 3: ("name", "string"), 4: ("namespace", "string")},
    "RoleRef": {1: ("apiGroup", "string"), 2: ("kind", "string"), 3: ("name", "string")},
    "DeleteOptions": {1: ("gracePeriodSeconds", "int"), 2: ("preconditions", "msg:Preconditions"),
                      3: ("orphanDependents", "bool"), 4: ("propagationPolicy", "string"), 5: ("dryRun", "[]string"),
                      6: ("ignoreStoreReadErrorWithClusterBreakingPotential", "bool")},
    "Preconditions": {1: ("uid", "string"), 2: ("resourceVersion", "string")},
}
# (apiVersion, kind) of a top-level object -> its message
KINDS = {("v1", k): k for k in ("Namespace", "ConfigMap", "Secret", "ServiceAccount")} | {
    ("rbac.authorization.k8s.io/v1", k): k for k in ("Role", "ClusterRole", "RoleBinding", "ClusterRoleBinding")} | {
    (v, "DeleteOptions"): "DeleteOptions" for v in ("v1", "meta.k8s.io/v1")}


class ProtobufError(ValueError):
    pass


def is_protobuf(content_type: str | None) -> bool:
    return (content_type or "").split(";")[0].strip().lower() == CONTENT_TYPE


def _varint(buf: bytes, i: int) -> tuple[int, int]:
    shift = out = 0
    while True:
        if i >= len(buf):
            raise ProtobufError("truncated varint")
        b = buf[i]
        i += 1
        out |= (b & 0x7F) << shift
        if not b & 0x80:
            return out, i
        shift += 7
        if shift > 63:
            raise ProtobufError("varint too long")


def _fields(buf: bytes) -> list[tuple[int, int, Any]]:
    """(field number, wire type, value) in order; value is an int or the bytes of a length-delimited field."""
    out = []
    i = 0
    while i < len(buf):
        key, i = _varint(buf, i)
        num, wire = key >> 3, key & 7
        if wire == 0:
            val, i = _varint(buf, i)
        elif wire == 2:
            n, i = _varint(buf, i)
            if i + n > len(buf):
                raise ProtobufError("truncated field")
            val, i = buf[i:i + n], i + n
        elif wire == 1:
            val, i = int.from_bytes(buf[i:i + 8], "little"), i + 8
        elif wire == 5:
            val, i = int.from_bytes(buf[i:i + 4], "little"), i + 4
        else:
            raise ProtobufError(f"unsupported wire type {wire}")
        out.append((num, wire, val))
    return out


def _signed(v: int) -> int:
    return v - (1 << 64) if v >= 1 << 63 else v


def _scalar(typ: str, wire: int, val: Any, where: str) -> Any:
    if typ == "string":
        if wire != 2:
            raise ProtobufError(f"{where}: expected a string")
        return val.decode("utf-8")
    if typ in ("bytes", "rawbytes"):
        return val if typ == "rawbytes" else base64.b64encode(val).decode()
    if typ == "int":
        return _signed(val)
    if typ == "bool":
        return bool(val)
    if typ == "time":
        t = decode_message("Time", val)
        secs = t.get("seconds", 0)
        return datetime.fromtimestamp(secs, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ") if secs else None
    if typ.startswith("msg:"):
        return decode_message(typ[4:], val)
    raise ProtobufError(f"{where}: unknown type {typ}")


def decode_message(name: str, buf: bytes) -> dict[str, Any]:
    spec = MESSAGES[name]
    out: dict[str, Any] = {}
    for num, wire, val in _fields(buf):
        if num not in spec:
            raise ProtobufError(f"{name}: field {num} is not one the emulator knows")
        key, typ = spec[num]
        if typ == "skip":
            continue
        if typ.startswith("map:"):
            entry = {n: v for n, _, v in _fields(val)}
            k = entry.get(1, b"").decode("utf-8")
            raw = entry.get(2, b"")
            out.setdefault(key, {})[k] = raw.decode("utf-8") if typ == "map:str" else base64.b64encode(raw).decode()
        elif typ.startswith("[]"):
            inner = typ[2:]
            if inner == "string" or inner.startswith("msg:"):
                out.setdefault(key, []).append(_scalar(inner, wire, val, f"{name}.{key}"))
            else:
                raise ProtobufError(f"{name}.{key}: packed repeated fields are not supported")
        else:
            out[key] = _scalar(typ, wire, val, f"{name}.{key}")
    return {k: v for k, v in out.items() if v not in ("", None) and not (k == "generation" and v == 0)}


def decode(raw: bytes) -> dict[str, Any]:
    """The object of a ``k8s\\0``-framed protobuf body, as the JSON encoding would give it.

    Raises ApiError 415 for a kind the emulator has no description of, 400 for a broken body."""
    if not raw.startswith(MAGIC):
        raise ApiError(400, "error decoding body: protobuf body without the k8s\\0 prefix", "BadRequest")
    try:
        env = decode_message("Unknown", raw[len(MAGIC):])
        tm = env.get("typeMeta") or {}
        api_version, kind = tm.get("apiVersion", ""), tm.get("kind", "")
        msg = KINDS.get((api_version, kind))
        if msg is None:
            raise ApiError(415, f"the emulator cannot decode {kind or 'this object'} ({api_version}) sent as "
                           f"{CONTENT_TYPE}; it decodes {', '.join(sorted({k for _, k in KINDS}))}. Send it as "
                           "JSON instead, e.g. `kubectl create ... --dry-run=client -o yaml | kubectl apply -f -`",
                           "UnsupportedMediaType")
        obj = decode_message(msg, env.get("raw", b""))
    except ProtobufError as exc:
        raise ApiError(400, f"error decoding body: protobuf: {exc}", "BadRequest") from None
    return {"apiVersion": api_version, "kind": kind, **obj}
