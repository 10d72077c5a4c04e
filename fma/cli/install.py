"""``fma install --render``: everything a cluster needs, as one YAML stream for ``kubectl apply``.

The ``fma-controllers`` chart (``deploy/charts/fma-controllers``) is rendered in-process
with Helm 4's Go SDK through PyPI's ``helm-python-sdk`` (no ``helm`` binary, no cluster).
Where that library cannot be imported, the ``helm`` binary's ``helm template`` is used if
it is on PATH; otherwise the command says how to install either. The output holds the
CRDs (from the chart's ``crds/``), then the chart's objects in Helm's install order,
admission policies last.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any, Iterable

DEFAULT_RELEASE = "fma"
DEFAULT_NAMESPACE = "default"

# Helm's install order for the kinds this chart renders; anything else sorts after them.
KIND_ORDER = [
    "Namespace", "CustomResourceDefinition", "ServiceAccount", "Secret", "ConfigMap",
    "ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding", "Service", "Deployment",
    "ServiceMonitor", "ValidatingAdmissionPolicy", "ValidatingAdmissionPolicyBinding",
]


class RenderError(RuntimeError):
    """The chart could not be rendered; the message says why and what to do."""


def default_chart_dir() -> Path:
    """The chart inside this checkout (or installed tree): ``<root>/deploy/charts/fma-controllers``."""
    return Path(__file__).resolve().parents[2] / "deploy" / "charts" / "fma-controllers"


def deep_merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    """Helm's precedence for user values: ``override`` wins, maps merge key by key."""
    out = dict(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = deep_merge(out[key], value)
        else:
            out[key] = value
    return out


def _parse_set(expr: str, kind: str) -> dict[str, Any]:
    try:
        import helm_python as helm
    except ImportError:
        return _parse_set_simple(expr, kind)
    parse = helm.parse_set_string if kind == "set" else helm.parse_set_string_values
    try:
        return parse(expr)
    except helm.HelmError as exc:
        raise RenderError(f"--{kind} {expr!r}: {exc}") from exc


def _parse_set_simple(expr: str, kind: str) -> dict[str, Any]:
    """Fallback for ``a.b=v[,c=w]`` when helm-python-sdk is absent (no lists, no escapes)."""
    import yaml

    out: dict[str, Any] = {}
    for part in expr.split(","):
        if "=" not in part:
            raise RenderError(f"--{kind} {expr!r}: expected KEY=VALUE")
        key, raw = part.split("=", 1)
        value: Any = raw if kind == "set-string" else yaml.safe_load(raw) if raw else ""
        node = out
        *parents, leaf = key.split(".")
        for p in parents:
            node = node.setdefault(p, {})
        node[leaf] = value
    return out


def collect_values(files: Iterable[str] = (), sets: Iterable[str] = (),
                   set_strings: Iterable[str] = ()) -> dict[str, Any]:
    """User values from ``--values`` files (in order), then ``--set``, then ``--set-string``."""
    import yaml

    values: dict[str, Any] = {}
    for f in files:
        try:
            loaded = yaml.safe_load(Path(f).read_text()) or {}
        except OSError as exc:
            raise RenderError(f"--values {f}: {exc.strerror}") from exc
        except yaml.YAMLError as exc:
            raise RenderError(f"--values {f}: not YAML: {exc}") from exc
        if not isinstance(loaded, dict):
            raise RenderError(f"--values {f}: must be a YAML mapping, got {type(loaded).__name__}")
        values = deep_merge(values, loaded)
    for expr in sets:
        values = deep_merge(values, _parse_set(expr, "set"))
    for expr in set_strings:
        values = deep_merge(values, _parse_set(expr, "set-string"))
    return values


def _split_docs(source: str, text: str) -> list[tuple[str, dict[str, Any]]]:
    import yaml

    try:
        docs = list(yaml.safe_load_all(text))
    except yaml.YAMLError as exc:
        raise RenderError(f"{source}: the chart rendered invalid YAML: {exc}") from exc
    return [(source, d) for d in docs if isinstance(d, dict) and d]


def _render_with_sdk(chart: Path, values: dict[str, Any], release: str, namespace: str,
                     include_crds: bool) -> list[tuple[str, dict[str, Any]]]:
    import helm_python as helm

    try:
        helm.validate_release_name(release)
    except helm.HelmError as exc:
        raise RenderError(f"release name {release!r}: {exc}") from exc
    try:
        with helm.Chart.load(chart) as c:
            rendered = c.render(values, name=release, namespace=namespace, is_install=True)
            crds = c.crds if include_crds else []
    except helm.HelmError as exc:
        raise RenderError(f"chart {chart}: {exc}") from exc
    objs: list[tuple[str, dict[str, Any]]] = []
    for crd in crds:
        objs += _split_docs(f"{chart.name}/{crd.get('filename') or crd['name']}", crd["data"])
    for source in sorted(rendered):
        if source.endswith((".txt", ".tpl")):
            continue
        objs += _split_docs(source, rendered[source])
    return objs


def _render_with_binary(helm_bin: str, chart: Path, values: dict[str, Any], release: str,
                        namespace: str, include_crds: bool) -> list[tuple[str, dict[str, Any]]]:
    argv = [helm_bin, "template", release, str(chart), "--namespace", namespace,
            "--values", "-"]
    if include_crds:
        argv.append("--include-crds")
    proc = subprocess.run(argv, input=json.dumps(values), capture_output=True, text=True)
    if proc.returncode != 0:
        raise RenderError(f"{' '.join(argv)} failed: {proc.stderr.strip()}")
    return _split_docs("helm template", proc.stdout)


def render(values: dict[str, Any] | None = None, *, release: str = DEFAULT_RELEASE,
           namespace: str = DEFAULT_NAMESPACE, chart: Path | None = None,
           include_crds: bool = True, include_policies: bool = True,
           create_namespace: bool = False) -> list[dict[str, Any]]:
    """Render the chart offline; returns Kubernetes objects in apply order."""
    chart = chart or default_chart_dir()
    if not (chart / "Chart.yaml").is_file():
        raise RenderError(f"no Helm chart at {chart} (pass --chart DIR)")
    values = dict(values or {})
    if not include_policies:
        values = deep_merge(values, {"admissionPolicies": {"enabled": False}})
    try:
        import helm_python  # noqa: F401

        objs = _render_with_sdk(chart, values, release, namespace, include_crds)
    except ImportError:
        helm_bin = shutil.which("helm")
        if helm_bin is None:
            raise RenderError(
                "cannot render: install the Helm SDK (`pip install helm-python-sdk`) or put the "
                "`helm` binary on PATH (or run `helm template` yourself; see docs/deploy.md)"
            ) from None
        objs = _render_with_binary(helm_bin, chart, values, release, namespace, include_crds)
    ordered = [obj for _, obj in sorted(enumerate(o for _, o in objs), key=_order_key)]
    if create_namespace:
        ordered.insert(0, {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}})
    return ordered


def _order_key(item: tuple[int, dict[str, Any]]) -> tuple[int, int]:
    index, obj = item
    kind = obj.get("kind", "")
    return (KIND_ORDER.index(kind) if kind in KIND_ORDER else len(KIND_ORDER), index)


def to_yaml_stream(objs: Iterable[dict[str, Any]]) -> str:
    """Objects as one multi-document YAML stream (what ``kubectl apply -f -`` reads)."""
    import yaml

    parts = [yaml.safe_dump(o, sort_keys=False, default_flow_style=False) for o in objs]
    return "".join(f"---\n{p}" for p in parts)


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "install",
        help="render the FMA-py install (CRDs, controllers, RBAC, admission policies) for kubectl",
        description="Render the fma-controllers Helm chart offline (Helm 4 SDK, no cluster "
        "contact) and print every object, CRDs first, as one YAML stream:\n"
        "  fma install --render --namespace fma --create-namespace | kubectl apply -f -\n"
        "Values work as in `helm install`: --values files in order, then --set. "
        "See docs/deploy.md for `helm install` itself.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--render", action="store_true", required=True,
                   help="print the rendered objects (required: this command never talks to a cluster)")
    p.add_argument("-f", "--values", action="append", default=[], metavar="FILE",
                   help="values file (repeatable; later files win)")
    p.add_argument("--set", action="append", default=[], metavar="K=V",
                   help="set a value, Helm syntax (a.b=1,c={x,y}); repeatable; wins over --values")
    p.add_argument("--set-string", action="append", default=[], metavar="K=V",
                   help="like --set but values stay strings")
    p.add_argument("--release", default=DEFAULT_RELEASE,
                   help=f"release name (default {DEFAULT_RELEASE}); the ServiceAccount is <release>-fma-controllers")
    p.add_argument("-n", "--namespace", default=DEFAULT_NAMESPACE,
                   help=f"namespace of the controllers (default {DEFAULT_NAMESPACE})")
    p.add_argument("--create-namespace", action="store_true", help="also emit the Namespace object")
    p.add_argument("--chart", type=Path, default=None, help="chart directory (default: the bundled chart)")
    p.add_argument("--skip-crds", action="store_true", help="leave the CRDs out")
    p.add_argument("--skip-policies", action="store_true", help="leave the admission policies out")
    p.add_argument("-o", "--output", type=Path, default=None, help="write to FILE instead of stdout")
    p.set_defaults(handler=_run)


def _run(args: argparse.Namespace) -> int:
    try:
        values = collect_values(args.values, args.set, args.set_string)
        objs = render(values, release=args.release, namespace=args.namespace, chart=args.chart,
                      include_crds=not args.skip_crds, include_policies=not args.skip_policies,
                      create_namespace=args.create_namespace)
    except RenderError as exc:
        print(f"fma install: {exc}", file=sys.stderr)
        return 1
    text = to_yaml_stream(objs)
    if args.output:
        args.output.write_text(text)
        print(f"fma install: wrote {len(objs)} objects to {args.output}", file=sys.stderr)
    else:
        sys.stdout.write(text)
    return 0
