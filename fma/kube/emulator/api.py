"""Request semantics of the emulated API server, independent of HTTP: routing of a path
to a resource, create / get / list / update / patch / delete / watch, subresources
(``status``, ``pods/binding``), admission-like defaulting and validation, CRD
registration and dry-run."""

from __future__ import annotations

import copy
import json
import logging
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Iterator

from fma.kube.emulator import errors, scale, validation
from fma.kube.emulator.admission import ADMIN, UserInfo
from fma.kube.emulator.errors import ApiError
from fma.kube.emulator.rbac import Authorizer
from fma.kube.emulator.patch import PatchError, json_patch, merge_patch, strategic_merge
from fma.kube.emulator.resources import Resource, builtin_resources, resources_from_crd
from fma.kube.emulator.selectors import SelectorError, parse_field_selector, parse_label_selector
from fma.kube.emulator.store import Store, now_rfc3339

log = logging.getLogger(__name__)
Obj = dict[str, Any]
FIELDS = {"/pods": {"spec.nodeName", "status.phase", "spec.schedulerName", "status.podIP", "spec.restartPolicy",
                    "spec.serviceAccountName"},
          "/events": {"involvedObject.kind", "involvedObject.name", "involvedObject.namespace",
                      "involvedObject.uid", "reason", "type", "source"},
          "/nodes": {"spec.unschedulable"}, "/namespaces": {"status.phase"}}
PROTECTED_NAMESPACES = {"default", "kube-system", "kube-public"}
VAP_KEY = "admissionregistration.k8s.io/validatingadmissionpolicies"
VAPB_KEY = "admissionregistration.k8s.io/validatingadmissionpolicybindings"
REASON_CODES = {"Forbidden": 403, "Invalid": 422, "Unauthorized": 401, "RequestEntityTooLarge": 413}


@dataclass
class Target:
    """A parsed URL: which resource, namespace, object and subresource."""
    resource: Resource
    namespace: str | None
    name: str | None = None
    sub: str | None = None


@dataclass
class Registry:
    resources: dict[tuple[str, str, str], Resource] = field(default_factory=dict)

    def add(self, r: Resource) -> None:
        self.resources[(r.group, r.version, r.plural)] = r

    def remove_crd(self, group: str, plural: str) -> None:
        for k in [k for k in self.resources if k[0] == group and k[2] == plural]:
            del self.resources[k]

    def find(self, group: str, version: str, plural: str) -> Resource | None:
        return self.resources.get((group, version, plural))

    def by_key(self, key: str) -> Resource | None:
        return next((r for r in self.resources.values() if r.key == key), None)

    def all(self) -> list[Resource]:
        return list(self.resources.values())


def _bool(v: str | None) -> bool:
    return v is not None and v.lower() in ("1", "true", "yes")


class Api:
    def __init__(self, store: Store | None = None, bookmark_interval: float = 5.0) -> None:
        self.store = store or Store()
        self.registry = Registry()
        for r in builtin_resources():
            self.registry.add(r)
        self.store.resolver = self.registry.by_key  # type: ignore[method-assign]
        self.bookmark_interval = bookmark_interval
        self.namespace_finalize_delay = 1.0  # seconds between a Namespace's delete and its removal
        self.authorizer = Authorizer()
        self.strict_unknown = True
        self.stopping = threading.Event()

    # ------------------------------------------------------------------ routing
    def route(self, path: str) -> Target | None:
        parts = [p for p in path.split("/") if p]
        if len(parts) >= 2 and parts[0] == "api":
            group, version, rest = "", parts[1], parts[2:]
        elif len(parts) >= 3 and parts[0] == "apis":
            group, version, rest = parts[1], parts[2], parts[3:]
        else:
            return None
        if rest and rest[0] == "watch":
            rest = rest[1:]
        if len(rest) >= 3 and rest[0] == "namespaces":
            ns, rest = rest[1], rest[2:]
        else:
            ns = None
        if not rest:
            return None
        r = self.registry.find(group, version, rest[0])
        if r is None:
            raise ApiError(404, "the server could not find the requested resource", "NotFound")
        if ns is not None and not r.namespaced:
            raise ApiError(404, "the server could not find the requested resource", "NotFound")
        name = rest[1] if len(rest) > 1 else None
        sub = rest[2] if len(rest) > 2 else None
        if sub and not ((sub == "status" and r.status) or (sub == "binding" and r.key == "/pods")
                        or (sub == "scale" and r.key in scale.SCALABLE)):
            raise ApiError(404, "the server could not find the requested resource", "NotFound")
        return Target(r, ns if r.namespaced else "", name, sub)

    # ------------------------------------------------------------------ helpers
    def _matcher(self, r: Resource, q: dict[str, str]) -> Any:
        try:
            lm = parse_label_selector(q.get("labelSelector"))
            allowed = {"metadata.name", "metadata.namespace"} | FIELDS.get(r.key, set())
            fm = parse_field_selector(q.get("fieldSelector"), allowed)
        except SelectorError as exc:
            raise errors.bad_request(str(exc)) from None
        return lambda o: lm(o) and fm(o)

    def _invalid(self, r: Resource, name: str, errs: list[validation.FieldError]) -> ApiError:
        return ApiError(422, validation.invalid_message(r.group_kind, name, errs), "Invalid",
                        {"name": name, "group": r.group, "kind": r.kind, "causes": [e.cause() for e in errs]})

    def _check_namespace(self, r: Resource, ns: str | None, name: str = "") -> None:
        if not (r.namespaced and ns):
            return
        ns_obj = self.store.peek("/namespaces", "", ns)
        if ns_obj is None:
            raise errors.not_found("namespaces", ns)
        if ns_obj["metadata"].get("deletionTimestamp"):
            raise ApiError(403, f'{r.group_resource} "{name}" is forbidden: unable to create new content in namespace '
                           f"{ns} because it is being terminated", "Forbidden",
                           {"name": name, "group": r.group, "kind": r.plural, "causes": [{
                               "reason": "NamespaceTerminating", "field": "metadata.namespace",
                               "message": f"namespace {ns} is being terminated"}]})

    def _prepare(self, r: Resource, obj: Obj, q: dict[str, str], old: Obj | None) -> list[str]:
        """Defaults, pruning and validation shared by create and update; returns warnings."""
        warnings: list[str] = []
        name = (obj.get("metadata") or {}).get("name") or ""
        if r.validator is not None:
            unknown = r.validator.prepare(obj)
            if unknown and q.get("fieldValidation") == "Strict":
                raise errors.bad_request("strict decoding error: " + ", ".join(f'unknown field "{u}"' for u in unknown))
            if unknown and q.get("fieldValidation") == "Warn":
                warnings += [f'unknown field "{u}"' for u in unknown]
            errs = r.validator.validate(obj)
            if errs:
                raise self._invalid(r, name, errs)
        if r.key == "/pods":
            errs = validation.validate_pod(obj) + (validation.validate_pod_update(old, obj) if old else [])
            if errs:
                raise self._invalid(r, name, errs)
        if r.key == "apiextensions.k8s.io/customresourcedefinitions":
            spec = obj.get("spec") or {}
            want = f"{(spec.get('names') or {}).get('plural')}.{spec.get('group')}"
            if name != want:
                raise self._invalid(r, name, [validation.FieldError(
                    "metadata.name", "Invalid", name, f'must be spec.names.plural+"."+spec.group')])
        return warnings

    def _admit(self, t: Target, op: str, old: Obj | None, new: Obj | None, user: UserInfo) -> list[str]:
        """Run the stored ValidatingAdmissionPolicies on a write; raise the real server's denial,
        return ``Warn`` bindings' warnings. Nothing to do (and no CEL import) without bindings."""
        with self.store.lock:
            bindings = self.store.all_of(VAPB_KEY)
            if not bindings:
                return []
            objs = [{**o, "kind": "ValidatingAdmissionPolicyBinding"} for o in bindings] + [
                {**o, "kind": "ValidatingAdmissionPolicy"} for o in self.store.all_of(VAP_KEY)]
            r = t.resource
            ns = t.namespace or ""
            ns_obj = self.store.peek("/namespaces", "", ns) if ns else None
            from fma.kube.emulator.admission import admit

            try:
                verdict = admit(objs, old, new, username=user.username, groups=list(user.groups), namespace=ns,
                                operation=op, group=r.group, version=r.version, resource=r.plural,
                                subresource=t.sub or "", namespaced=r.namespaced, name=t.name,
                                namespace_labels=((ns_obj or {}).get("metadata") or {}).get("labels") or {})
            except (RuntimeError, ValueError) as exc:
                raise ApiError(500, f"admission: {exc}", "InternalError") from None
        if verdict.denials:
            d = verdict.denials[0]
            msg = f"ValidatingAdmissionPolicy '{d.policy}' with binding '{d.binding}' denied request: {d.message}"
            name = t.name or ((new or {}).get("metadata") or {}).get("name") or ""
            log.info("admission denied %s %s %r for %s: %s", op, r.group_resource, name, user.username, msg)
            raise ApiError(REASON_CODES.get(d.reason, 422), f'{r.group_resource} "{name}" is forbidden: {msg}',
                           d.reason, {"name": name, "group": r.group, "kind": r.plural,
                                      "causes": [{"message": msg}]})
        return verdict.warnings

    # ------------------------------------------------------------------ verbs
    def get(self, t: Target) -> Obj:
        obj = self.store.get(t.resource, t.namespace or "", t.name or "")
        if t.sub == "scale":
            return scale.to_scale(obj)
        return self._with_kind(t.resource, obj)

    def list(self, t: Target, q: dict[str, str]) -> Obj:
        r = t.resource
        items, rv = self.store.list(r, t.namespace or None, self._matcher(r, q))
        limit = int(q.get("limit") or 0)
        start = int(q["continue"]) if q.get("continue", "").isdigit() else 0
        md: Obj = {"resourceVersion": str(rv)}
        if limit and len(items) > start + limit:
            md["continue"] = str(start + limit)
            md["remainingItemCount"] = len(items) - start - limit
        items = items[start:start + limit] if limit else items[start:]
        return {"kind": f"{r.kind}List", "apiVersion": r.api_version, "metadata": md,
                "items": [self._with_kind(r, o) for o in items]}

    @staticmethod
    def _with_kind(r: Resource, o: Obj) -> Obj:
        o["kind"], o["apiVersion"] = r.kind, r.api_version
        return o

    def create(self, t: Target, body: Obj, q: dict[str, str], user: UserInfo = ADMIN) -> tuple[Obj, list[str]]:
        r = t.resource
        if t.sub == "binding":
            warnings = self._admit(t, "CREATE", None, body if isinstance(body, dict) else None, user)
            return self._bind(t, body), warnings
        if not isinstance(body, dict):
            raise errors.bad_request("the body of the request was not a JSON object")
        obj = copy.deepcopy(body)
        md = obj.setdefault("metadata", {})
        if r.namespaced:
            if md.get("namespace") and t.namespace and md["namespace"] != t.namespace:
                raise errors.bad_request("the namespace of the provided object does not match the namespace "
                                         "sent on the request")
            md["namespace"] = t.namespace or md.get("namespace") or "default"
        self._check_namespace(r, md.get("namespace"), md.get("name") or md.get("generateName") or "")
        if not md.get("name") and not md.get("generateName"):
            raise self._invalid(r, "", [validation.FieldError("metadata.name", "Required",
                                                              detail="name or generateName is required")])
        self._with_kind(r, obj)
        self._defaults(r, obj)
        warnings = self._prepare(r, obj, q, None)
        if md.get("name"):
            errs = validation.validate_name(md["name"], label=r.key in ("/namespaces",))
            if errs:
                raise self._invalid(r, md["name"], errs)
        warnings += self._admit(t, "CREATE", None, obj, user)
        out = self.store.create(r, obj, dry_run=q.get("dryRun") == "All")
        if r.key == "apiextensions.k8s.io/customresourcedefinitions" and q.get("dryRun") != "All":
            self.register_crd(out)
        return self._with_kind(r, out), warnings

    def _defaults(self, r: Resource, obj: Obj) -> None:
        if r.key == "/pods":
            spec = obj.setdefault("spec", {})
            spec.setdefault("restartPolicy", "Always")
            spec.setdefault("terminationGracePeriodSeconds", 30)
            spec.setdefault("dnsPolicy", "ClusterFirst")
            spec.setdefault("schedulerName", "default-scheduler")
            spec.setdefault("enableServiceLinks", True)
            spec.setdefault("securityContext", {})
            for c in spec.get("containers") or []:
                if isinstance(c, dict):
                    c.setdefault("terminationMessagePath", "/dev/termination-log")
                    c.setdefault("terminationMessagePolicy", "File")
                    img = str(c.get("image", ""))
                    c.setdefault("imagePullPolicy", "Always" if img.endswith(":latest") or ":" not in
                                 img.rsplit("/", 1)[-1] else "IfNotPresent")
                    c.setdefault("resources", {})
            obj["status"] = {"phase": "Pending", "qosClass": "BestEffort"}
        elif r.key == "/namespaces":
            obj["status"] = {"phase": "Active"}
            obj.setdefault("spec", {}).setdefault("finalizers", ["kubernetes"])
            obj["metadata"].setdefault("labels", {})["kubernetes.io/metadata.name"] = obj["metadata"].get("name")
        elif r.key == "apps/replicasets":
            obj.setdefault("spec", {}).setdefault("replicas", 1)
            obj["status"] = {"replicas": 0}
        elif r.key == "apiextensions.k8s.io/customresourcedefinitions":
            obj["status"] = {"conditions": [
                {"type": "NamesAccepted", "status": "True", "reason": "NoConflicts", "message": "no conflicts found",
                 "lastTransitionTime": now_rfc3339()},
                {"type": "Established", "status": "True", "reason": "InitialNamesAccepted",
                 "message": "the initial names have been accepted", "lastTransitionTime": now_rfc3339()}],
                "acceptedNames": (obj.get("spec") or {}).get("names") or {}, "storedVersions": [
                    v["name"] for v in (obj.get("spec") or {}).get("versions") or [] if v.get("storage")]}

    def register_crd(self, crd: Obj) -> None:
        spec = crd.get("spec") or {}
        self.registry.remove_crd(spec.get("group", ""), (spec.get("names") or {}).get("plural", ""))
        for res in resources_from_crd(crd):
            self.registry.add(res)
        log.info("CRD %s registered", crd["metadata"]["name"])

    def _bind(self, t: Target, body: Obj) -> Obj:
        r = t.resource
        node = ((body or {}).get("target") or {}).get("name")
        if not node:
            raise self._invalid(r, t.name or "", [validation.FieldError("target.name", "Required")])
        with self.store.lock:
            cur = self.store.get(r, t.namespace or "", t.name or "")
            if cur["metadata"].get("deletionTimestamp"):
                raise errors.ApiError(409, f'Operation cannot be fulfilled on pods/binding "{t.name}": '
                                      "pod is being deleted, cannot be assigned to a host", "Conflict")
            if (cur.get("spec") or {}).get("nodeName"):
                raise errors.ApiError(409, f'Operation cannot be fulfilled on pods/binding "{t.name}": '
                                      f"pod {t.name} is already assigned to node \"{cur['spec']['nodeName']}\"",
                                      "Conflict")
            new = copy.deepcopy(cur)
            new["spec"]["nodeName"] = node
            ann = ((body.get("metadata") or {}).get("annotations")) or {}
            if ann:
                new["metadata"].setdefault("annotations", {}).update(ann)
            conds = [c for c in (new.setdefault("status", {}).get("conditions") or []) if c.get("type") != "PodScheduled"]
            conds.append({"type": "PodScheduled", "status": "True", "lastTransitionTime": now_rfc3339()})
            new["status"]["conditions"] = conds
            self.store.update(r, new, cur)
        return {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "code": 201}

    def update(self, t: Target, body: Obj, q: dict[str, str], user: UserInfo = ADMIN) -> tuple[Obj, list[str]]:
        r = t.resource
        if not isinstance(body, dict):
            raise errors.bad_request("the body of the request was not a JSON object")
        bname = (body.get("metadata") or {}).get("name")
        if bname and bname != t.name:
            raise errors.bad_request(f'the name of the object ({bname}) does not match the name on the URL ({t.name})')
        with self.store.lock:
            cur = self.store.get(r, t.namespace or "", t.name or "")
            want = (body.get("metadata") or {}).get("resourceVersion")
            if want and want != cur["metadata"].get("resourceVersion"):
                raise errors.conflict(r.group_resource, t.name or "")
            if t.sub == "scale":
                return self._scale(t, cur, body, q, user)
            return self._replace(t, cur, copy.deepcopy(body), q, user)

    def _scale(self, t: Target, cur: Obj, sc: Obj, q: dict[str, str], user: UserInfo) -> tuple[Obj, list[str]]:
        """Write a Scale's replicas into its object; answer with the new Scale."""
        new = scale.apply_scale(cur, sc, t.resource.group_resource, t.name or "")
        out, warnings = self._replace(Target(t.resource, t.namespace, t.name, None), cur, new, q, user)
        return scale.to_scale(out), warnings

    def _replace(self, t: Target, cur: Obj, new: Obj, q: dict[str, str],
                 user: UserInfo = ADMIN) -> tuple[Obj, list[str]]:
        r = t.resource
        new.setdefault("metadata", {})
        self._with_kind(r, new)
        if t.sub == "status":
            merged = copy.deepcopy(cur)
            if "status" in new:
                merged["status"] = new["status"]
            else:
                merged.pop("status", None)
            new = merged
        elif r.status and "status" in cur:
            new["status"] = copy.deepcopy(cur["status"])
        elif r.status:
            new.pop("status", None)
        if r.key == "/pods" and t.sub != "status":
            new.setdefault("status", copy.deepcopy(cur.get("status") or {}))
        warnings = self._prepare(r, new, q, cur)
        if cur["metadata"].get("deletionTimestamp"):
            added = set(new["metadata"].get("finalizers") or []) - set(cur["metadata"].get("finalizers") or [])
            if added:
                raise self._invalid(r, t.name or "", [validation.FieldError(
                    "metadata.finalizers", "Forbidden", detail="no new finalizers can be added if the object is "
                    "being deleted, found new finalizers " + json.dumps(sorted(added)))])
        warnings += self._admit(t, "UPDATE", cur, new, user)
        out = self.store.update(r, new, cur, dry_run=q.get("dryRun") == "All")
        return self._with_kind(r, out), warnings

    def patch(self, t: Target, raw: bytes, ctype: str, q: dict[str, str],
              user: UserInfo = ADMIN) -> tuple[Obj, list[str]]:
        r = t.resource
        ctype = ctype.split(";")[0].strip()
        try:
            doc = json.loads(raw or b"null")
        except ValueError:
            import yaml
            try:
                doc = yaml.safe_load(raw)
            except yaml.YAMLError as exc:
                raise errors.bad_request(f"error decoding patch: {exc}") from None
        kinds = {"application/json-patch+json", "application/merge-patch+json"}
        if r.builtin:
            kinds.add("application/strategic-merge-patch+json")
        if ctype not in kinds:
            raise ApiError(415, "the body of the request was in an unknown format - accepted media types include: "
                           + ", ".join(sorted(kinds)), "UnsupportedMediaType")
        with self.store.lock:
            cur = self.store.get(r, t.namespace or "", t.name or "")
            base = scale.to_scale(cur) if t.sub == "scale" else cur
            try:
                if ctype == "application/json-patch+json":
                    new = json_patch(base, doc)
                elif ctype == "application/merge-patch+json":
                    new = merge_patch(base, doc)
                else:
                    new = strategic_merge(base, doc)
            except PatchError as exc:
                if exc.code == 400:
                    raise errors.bad_request(str(exc)) from None
                raise ApiError(422, str(exc), "Invalid") from None
            if not isinstance(new, dict):
                raise errors.bad_request("the patch did not produce an object")
            want = (new.get("metadata") or {}).get("resourceVersion")
            if want and want != cur["metadata"].get("resourceVersion"):
                raise errors.conflict(r.group_resource, t.name or "")
            if t.sub == "scale":
                return self._scale(t, cur, new, q, user)
            return self._replace(t, cur, new, q, user)

    def delete(self, t: Target, body: Obj | None, q: dict[str, str], user: UserInfo = ADMIN) -> Obj:
        r = t.resource
        opts = body if isinstance(body, dict) else {}
        grace = opts.get("gracePeriodSeconds", q.get("gracePeriodSeconds"))
        prop = opts.get("propagationPolicy") or q.get("propagationPolicy") or "Background"
        if opts.get("orphanDependents") is True or q.get("orphanDependents") == "true":
            prop = "Orphan"
        pre = opts.get("preconditions") or {}
        dry = q.get("dryRun") == "All" or "All" in (opts.get("dryRun") or [])
        ns = t.namespace or ""
        if r.key == "/namespaces" and t.name in PROTECTED_NAMESPACES:
            raise ApiError(403, f'namespaces "{t.name}" is forbidden: this namespace may not be deleted', "Forbidden")
        with self.store.lock:
            cur = self.store.peek(r.key, ns, t.name or "")
            if cur is not None:
                self._admit(t, "DELETE", cur, None, user)
            if r.key == "/namespaces" and cur is not None and not dry:
                return self._with_kind(r, self._terminate_namespace(cur))
            obj, gone = self.store.delete(r, ns, t.name or "", None if grace is None else int(grace), prop,
                                          pre.get("uid"), pre.get("resourceVersion"), dry)
            if gone and not dry:
                if r.key == "apiextensions.k8s.io/customresourcedefinitions":
                    spec = obj.get("spec") or {}
                    group, plural = spec.get("group", ""), (spec.get("names") or {}).get("plural", "")
                    self.store.objects.pop(f"{group}/{plural}", None)
                    self.registry.remove_crd(group, plural)
        return self._with_kind(r, obj)

    def _terminate_namespace(self, cur: Obj) -> Obj:
        """Like the real server: the Namespace turns ``Terminating`` (no new content may be
        created in it; what is in it can still be read and deleted) and the namespace
        controller empties and removes it a moment later (``namespace_finalize_delay``), so a
        ``kubectl delete -f`` listing the Namespace first still finds the objects after it."""
        name = cur["metadata"]["name"]
        if cur["metadata"].get("deletionTimestamp"):
            raise ApiError(409, f'Operation cannot be fulfilled on namespaces "{name}": The system is ensuring all '
                           "content is removed from this namespace.  Upon completion, this namespace will "
                           "automatically be purged by the system.", "Conflict",
                           {"name": name, "kind": "namespaces"})
        new = copy.deepcopy(cur)
        new["metadata"]["deletionTimestamp"] = now_rfc3339()
        new["metadata"]["deletionGracePeriodSeconds"] = 0
        new.setdefault("status", {})["phase"] = "Terminating"
        r = self.registry.by_key("/namespaces")
        assert r is not None
        out = self.store._commit(r, "MODIFIED", new, cur)  # update() keeps deletionTimestamp server-owned
        timer = threading.Timer(self.namespace_finalize_delay, self._finish_namespace, (name,))
        timer.daemon = True
        timer.start()
        log.info("namespace %s terminating; emptied and removed in %.1fs", name, self.namespace_finalize_delay)
        return out

    def _finish_namespace(self, name: str) -> None:
        r = self.registry.by_key("/namespaces")
        if r is None or self.store.closed or self.stopping.is_set():
            return
        with self.store.lock:
            try:
                self._empty_namespace(name)
                if self.store.peek(r.key, "", name) is not None:
                    self.store.delete(r, "", name, 0)
            except ApiError as exc:
                log.warning("namespace %s: finishing its deletion: %s", name, exc.status().get("message"))

    def _empty_namespace(self, ns: str) -> None:
        for key in list(self.store.objects):
            res = self.registry.by_key(key)
            if res is None or not res.namespaced:
                continue
            for (ons, name) in list(self.store.objects.get(key, {})):
                if ons == ns:
                    try:
                        self.store.delete(res, ns, name, 0)
                    except ApiError:
                        pass

    def delete_collection(self, t: Target, body: Obj | None, q: dict[str, str], user: UserInfo = ADMIN) -> Obj:
        lst = self.list(t, q)
        out = []
        for o in lst["items"]:
            try:
                out.append(self.delete(Target(t.resource, o["metadata"].get("namespace", ""), o["metadata"]["name"]),
                                       body, q, user))
            except ApiError:
                pass
        return {**lst, "items": out}

    # ------------------------------------------------------------------ watch
    def watch(self, t: Target, q: dict[str, str]) -> Iterator[Obj]:
        """Watch events as dicts ``{type, object}``; ends at ``timeoutSeconds`` or when the server stops.

        Bad selectors or versions raise ApiError here, before the stream starts."""
        match = self._matcher(t.resource, q)
        rv_param = q.get("resourceVersion") or ""
        if rv_param not in ("", "0") and not rv_param.isdigit():
            raise errors.bad_request(f'invalid resource version "{rv_param}"')
        return self._watch(t, q, match)

    def _watch(self, t: Target, q: dict[str, str], match: Any) -> Iterator[Obj]:
        r = t.resource
        if t.name:
            base = match
            match = lambda o: base(o) and o["metadata"]["name"] == t.name  # noqa: E731
        ns = t.namespace or None
        timeout = float(q.get("timeoutSeconds") or 1800)
        deadline = time.monotonic() + timeout
        bookmarks = _bool(q.get("allowWatchBookmarks"))
        rv_param = q.get("resourceVersion") or ""
        store = self.store

        def mine(o: Obj | None) -> bool:
            return o is not None and (ns is None or o["metadata"].get("namespace") == ns) and match(o)

        initial_events = _bool(q.get("sendInitialEvents"))
        if rv_param in ("", "0") or initial_events:
            items, cursor = store.list(r, ns, lambda o: match(o))
            for o in items:
                yield {"type": "ADDED", "object": self._with_kind(r, o)}
            if initial_events:  # a streaming list (client-go's WatchList, kubectl delete --wait) ends with this
                yield {"type": "BOOKMARK", "object": {
                    "kind": r.kind, "apiVersion": r.api_version, "metadata": {
                        "resourceVersion": str(cursor), "annotations": {"k8s.io/initial-events-end": "true"}}}}
        else:
            cursor = int(rv_param)
        last_bm = time.monotonic()
        while not store.closed and not self.stopping.is_set():
            try:
                with store.lock:
                    changes = store.changes_since(cursor, r.key)
                    head = store.rv
            except ApiError as exc:
                yield {"type": "ERROR", "object": exc.status()}
                return
            for c in changes:
                now_in, was_in = mine(c.obj), mine(c.old)
                if c.type == "DELETED":
                    typ = "DELETED" if now_in else None
                elif c.type == "ADDED":
                    typ = "ADDED" if now_in else None
                else:
                    typ = ("MODIFIED" if was_in else "ADDED") if now_in else ("DELETED" if was_in else None)
                if typ:
                    yield {"type": typ, "object": self._with_kind(r, copy.deepcopy(c.obj))}
            cursor = max(cursor, head)
            now = time.monotonic()
            if now >= deadline:
                return
            if bookmarks and now - last_bm >= self.bookmark_interval:
                last_bm = now
                yield {"type": "BOOKMARK", "object": {"kind": r.kind, "apiVersion": r.api_version,
                                                      "metadata": {"resourceVersion": str(cursor)}}}
            wait = min(deadline - now, self.bookmark_interval if bookmarks else 1.0)
            store.wait_past(cursor, max(0.01, wait))
