"""``fma apiserver``: run the Kubernetes API server emulator (for kubectl, fma programs, demos)."""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "apiserver", help="run the Kubernetes API server emulator (kubectl and the official client work against it)",
        description="Serves core/v1 (pods, configmaps, nodes, events, namespaces, services, ...), "
        "coordination.k8s.io leases, apps/v1 replicasets (with a ReplicaSet controller), CRDs and the custom "
        "resources of --crds with schema validation, watches, selectors, finalizers, patches and dry-run. "
        "No authentication: it listens on 127.0.0.1 unless told otherwise.")
    p.add_argument("--port", type=int, default=0, help="TCP port (default 0: any free port, printed)")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    p.add_argument("--kubeconfig-out", default=None, help="write a kubeconfig pointing at the emulator to this path")
    p.add_argument("--crds", default="crds", help="directory of CRD YAML files to register (default ./crds; "
                   "'' for none)")
    p.add_argument("--persist", default=None, help="JSON file to keep objects in across restarts")
    p.add_argument("--admission-policies", action="append", default=[], metavar="PATH",
                   help="YAML file or directory of ValidatingAdmissionPolicy(+Binding) objects to enforce (CEL via "
                   "cel-python); other kinds in the files are skipped, so `fma install --render -o FILE` output "
                   "works. Repeatable. Policies created later through the API are enforced too. The request's user "
                   "is the Impersonate-User header (kubectl --as), or system:serviceaccount:NS:NAME for a bearer "
                   "token 'sa:NS:NAME', else 'admin'")
    p.add_argument("--authorization-mode", choices=["AlwaysAllow", "RBAC"], default=None,
                   help="RBAC: requests of users other than 'admin' (service accounts by token, --as users) must be "
                   "allowed by the stored Roles/ClusterRoles and bindings, or get the real server's 403 "
                   "(default AlwaysAllow, or $FMA_EMULATOR_AUTHORIZATION_MODE). What service accounts asked for "
                   "is listed at /debug/fma/access either way")
    p.add_argument("--history", type=int, default=10000,
                   help="watch events kept; older resourceVersions answer 410 Expired (default 10000)")
    p.set_defaults(handler=_run)


def _run(args: argparse.Namespace) -> int:
    import os
    import signal
    import sys
    import threading

    from fma.kube.emulator import Emulator

    crds = args.crds or None
    if crds and not os.path.isdir(crds):
        print(f"fma apiserver: CRD directory {crds!r} does not exist (use --crds DIR or --crds '')", file=sys.stderr)
        return 2
    try:
        emu = Emulator(port=args.port, crd_dir=crds, persist=args.persist, host=args.host,
                       history=args.history, admission_policies=args.admission_policies,
                       authorization_mode=args.authorization_mode).start()
    except FileNotFoundError as exc:
        print(f"fma apiserver: {exc}", file=sys.stderr)
        return 2
    except (RuntimeError, ValueError) as exc:
        print(f"fma apiserver: cannot load admission policies: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"fma apiserver: cannot listen on {args.host}:{args.port}: {exc}", file=sys.stderr)
        return 1
    if args.kubeconfig_out:
        emu.write_kubeconfig(args.kubeconfig_out)
    print(f"fma apiserver: serving {emu.url}" + (f" (kubeconfig {args.kubeconfig_out})" if args.kubeconfig_out
                                                  else ""), flush=True)
    done = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: done.set())
    done.wait()
    emu.stop()
    return 0
