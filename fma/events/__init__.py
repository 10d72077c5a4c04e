"""The event log: records, their msgpack codec, log backends, and folding.

Every transition of every lifecycle becomes one :class:`Record`; an actor's state is a
fold of its records (see :mod:`fma.events.fold`).
"""

from fma.events.record import RECORD_VERSION, Record, RecordError
from fma.events.codec import decode_record, encode_record
from fma.events.log import EventLog, Subscription
from fma.events.memlog import MemoryLog
from fma.events.filelog import CorruptLogError, FileLog, read_log_file, read_log_from

__all__ = [
    "RECORD_VERSION",
    "Record",
    "RecordError",
    "decode_record",
    "encode_record",
    "EventLog",
    "Subscription",
    "MemoryLog",
    "FileLog",
    "CorruptLogError",
    "read_log_file",
    "read_log_from",
]
