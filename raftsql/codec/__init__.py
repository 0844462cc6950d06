"""Wire and disk formats: versioned msgpack records (no pickle) and length-prefixed frames."""

from raftsql.codec.errors import CodecError
from raftsql.codec.frame import DEFAULT_MAX_FRAME, FrameDecoder, encode_frame
from raftsql.codec.records import (
    DEFAULT_MAX_RECORD,
    FORMAT_VERSION,
    Kind,
    decode_conf_state,
    decode_entry,
    decode_hard_state,
    decode_message,
    decode_snapshot_metadata,
    encode_conf_state,
    encode_entry,
    encode_hard_state,
    encode_message,
    encode_snapshot_metadata,
)

__all__ = [
    "DEFAULT_MAX_FRAME",
    "DEFAULT_MAX_RECORD",
    "FORMAT_VERSION",
    "CodecError",
    "FrameDecoder",
    "Kind",
    "decode_conf_state",
    "decode_entry",
    "decode_hard_state",
    "decode_message",
    "decode_snapshot_metadata",
    "encode_conf_state",
    "encode_entry",
    "encode_frame",
    "encode_hard_state",
    "encode_message",
    "encode_snapshot_metadata",
]
