"""ZeroMQ transport: the only importer of ``zmq`` (CONTRACTS.md B2, B3).

Public API
==========

Serving (one per actor-hosting process)::

    host = Host(log, bind="tcp://127.0.0.1:0", debug_socket="ipc:///run/fma/debug.sock",
                name="launcher/node-a", effects=handler)
    ref = host.spawn(InstanceActor, "instance/node-a/I1", ...)   # a fma.actors.PathRef
    host.route("launcher/node-a", fn)      # fn(type, body) -> reply, run on a worker thread
    host.serve(default=fn)                 # bind; ``default`` answers envelopes with no ``to``
    host.address, host.pub_address, host.debug_address   # resolved endpoints (port 0 → real)
    host.states(); host.paths(); host.get(path)          # as fma.actors.ActorSystem
    host.stop()                            # or ``with Host(...) as host:``

``Host`` is an :class:`fma.actors.ActorSystem` plus a ROUTER endpoint (asks/tells to
paths), a PUB endpoint (every record of ``log``, in seq order) and, when asked for, the
debug socket. ``serve_debug_socket(addr, log) -> DebugServer`` serves only the latter.

Client (any process)::

    peer = connect("tcp://127.0.0.1:5555", on_down=..., on_up=...)   # a RemoteHost
    launcher = peer.ref("launcher/node-a")                           # a RemoteRef
    launcher.ask("create", {...}, timeout=5.0)   # reply body, or raises RemoteError /
                                                  # AskTimeout / PeerDown (fma.actors errors)
    launcher.tell("ready", {})
    peer.ask(None, "op", body)                    # to the host's ``default`` handler
    stream = peer.subscribe(prefix="instance/", machine=None, state=None, since=0)
    for record in stream: ...                     # fma.events.Record, gap-free, in seq order
    stream.get(timeout=1.0); stream.close(); peer.close()

A ``RemoteHost`` is shared by threads: each calling thread asks and tells over a DEALER
of its own (order is per thread, as with pykka); one IO thread keeps the heartbeats and
the event stream. Call ``close()`` when the threads using it are done.

Envelope (B2): msgpack map ``{v: 1, id, kind, type, sender, deadline?, body, to?}``; ``to``
(our addition) is the target actor path. Replies carry the ask's ``id``; ``kind: "error"``
replies carry ``{error, message}`` (``error`` is the exception class name or a transport
code: ``BadFrame``, ``BadVersion``, ``TooLarge``, ``UnknownType``, ``NoSuchActor``,
``DeadlineExceeded``). Host-level types start with ``$``: ``$ping`` (heartbeat; reply
``{last_seq}``), ``$hello`` (``{name, pub, last_seq, paths}``), ``$read``
(``{since, until?, limit?}`` → ``{records, last_seq}``), ``$paths``, ``$states``.

Delivery: at most once — the host remembers the last ids per sender and answers a
duplicate ask from its reply cache (a duplicate tell is dropped). Every ask has a
deadline; a host skips an ask whose deadline has passed. Heartbeats: a client pings every
``heartbeat_s``; after 3 missed beats the peer is *down* (``on_down``; pending asks fail
with :class:`PeerDown`, new ones fail fast) until a reply comes again (``on_up``). Hosts
report silent clients the same way (``on_peer_down``).

Event stream: PUB frames ``[actor, envelope(kind="event", id=seq, body=record)]``; a
subscriber that sees a seq jump (or a ``$ping`` reply with a higher ``last_seq``) reads the
missing records with ``$read`` — so a stream never skips a record.

Debug socket (B3): ROUTER, msgpack maps. ``{op: "state", prefix?, machine?, state?}`` →
``{ok: true, seq, actors: [{actor, machine, state, seq}]}``; ``{op: "history", actor}`` →
``{ok: true, actor, records}``; ``{op: "tail", since?, prefix?, machine?, state?}`` →
``{ok: true, op: "tail", last_seq}`` then one ``{ok: true, op: "record", after, record}``
per record (``after`` = the seq of the previous record sent on this tail, so a client can
see a drop); ``{op: "ping"}`` keeps a tail alive (tails without a ping for 30 s end);
``{op: "untail"}``. Anything else → ``{ok: false, error}``. Requests may carry ``id``,
echoed in the replies. :class:`DebugClient` speaks it; ``fma debug state|history|tail``
use it.

Security: binding TCP on a non-loopback address needs CURVE keys
(``CurveServer(secret_file, authorized_dir=None)`` / ``CurveClient(secret_file,
server_public_file)``, files made by :func:`make_keypair`); ipc and 127.0.0.1 need none.
Frames over ``max_frame`` bytes (default 1 MiB) are refused with an error reply.
"""

from fma.actors.messages import AskTimeout, RemoteError
from fma.transport.codec import (
    DEFAULT_MAX_FRAME, PROTOCOL_VERSION, Envelope, EnvelopeError, decode, encode,
)
from fma.transport.curve import CurveClient, CurveServer, make_keypair
from fma.transport.client import PeerDown, RemoteHost, RemoteRef, connect
from fma.transport.stream import EventStream
from fma.transport.host import Host
from fma.transport.debugsock import DebugServer, serve_debug_socket
from fma.transport.debugclient import DebugClient, DebugError

__all__ = [
    "AskTimeout", "RemoteError", "DEFAULT_MAX_FRAME", "PROTOCOL_VERSION", "Envelope", "EnvelopeError",
    "decode", "encode", "CurveClient", "CurveServer", "make_keypair", "PeerDown", "RemoteHost",
    "RemoteRef", "connect", "EventStream", "Host", "DebugServer", "serve_debug_socket",
    "DebugClient", "DebugError",
]
