"""docs/api.md is generated from the proto comments and mentions every RPC, message and field."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from execstream.v1 import events_pb2, service_pb2, state_pb2
from google.protobuf.descriptor import Descriptor, FileDescriptor

ROOT = Path(__file__).resolve().parents[1]


def test_api_doc_is_fresh() -> None:
    result = subprocess.run(
        [sys.executable, str(ROOT / "scripts/gen_api_docs.py"), "--check"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr


def _messages(descriptor: Descriptor) -> list[Descriptor]:
    nested = [m for n in descriptor.nested_types for m in _messages(n)]
    return [] if descriptor.GetOptions().map_entry else [descriptor, *nested]


def test_every_rpc_message_field_and_enum_value_is_documented() -> None:
    text = (ROOT / "docs/api.md").read_text()
    files: list[FileDescriptor] = [f.DESCRIPTOR for f in (events_pb2, state_pb2, service_pb2)]
    for file in files:
        for service in file.services_by_name.values():
            assert f"service {service.name}" in text
            for method in service.methods:
                assert f"#### rpc {method.name}" in text
        for top in file.message_types_by_name.values():
            for message in _messages(top):
                section = text.split(f"### {message.full_name.removeprefix('execstream.v1.')}\n")
                assert len(section) == 2, f"no section for {message.full_name}"
                body = section[1].split("\n### ")[0]
                for field in message.fields:
                    row = f"| `{field.name}` | {field.number} |"
                    assert row in body, f"{message.name}.{field.name} undocumented"
                    meaning = body.split(row)[1].split("\n")[0].rsplit("|", 2)[-2].strip()
                    assert meaning.replace("(oneof `body`)", "").strip(), (
                        f"{message.name}.{field.name} has no comment in the proto"
                    )
        for enum in file.enum_types_by_name.values():
            for value in enum.values:
                assert f"| `{value.name}` | {value.number} |" in text
