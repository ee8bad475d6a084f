#!/usr/bin/env python3
"""Write docs/api.md from the comments in protos/ (``--check`` fails if it is stale).

The proto comments are the contract's single source: client authors in other languages read
them, so the reference is generated from them rather than written twice and left to drift.
What no single message or field can say (how to call, the error model, the shape of a
watch, how a sidecar recovers) is written by hand in docs/contract/*.md and placed before
the reference, in file name order; links in those files are relative to docs/.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from google.protobuf import descriptor_pb2

ROOT = Path(__file__).resolve().parents[1]
PROTOS = ROOT / "protos"
OUT = ROOT / "docs" / "api.md"
SECTIONS = ROOT / "docs" / "contract"

# Paths inside FileDescriptorProto (descriptor.proto field numbers) that carry comments.
MESSAGE, ENUM, SERVICE = 4, 5, 6
FIELD, NESTED, NESTED_ENUM, ONEOF = 2, 3, 4, 8
ENUM_VALUE, METHOD = 2, 2

SCALARS = {
    number: name.removeprefix("TYPE_").lower()
    for name, number in descriptor_pb2.FieldDescriptorProto.Type.items()
}


def descriptors() -> descriptor_pb2.FileDescriptorSet:
    import grpc_tools

    include = os.path.join(os.path.dirname(grpc_tools.__file__), "_proto")
    files = sorted(str(p.relative_to(PROTOS)) for p in PROTOS.glob("execstream/**/*.proto"))
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "set.pb"
        subprocess.run(
            [
                sys.executable,
                "-m",
                "grpc_tools.protoc",
                f"-I{PROTOS}",
                f"-I{include}",
                "--include_source_info",
                f"--descriptor_set_out={out}",
                *files,
            ],
            check=True,
        )
        result = descriptor_pb2.FileDescriptorSet()
        result.ParseFromString(out.read_bytes())
    return result


def comment_map(file: descriptor_pb2.FileDescriptorProto) -> dict[tuple[int, ...], str]:
    found = {}
    for location in file.source_code_info.location:
        text = location.leading_comments.strip() or location.trailing_comments.strip()
        if text:
            found[tuple(location.path)] = " ".join(line.strip() for line in text.splitlines())
    return found


def field_type(field: descriptor_pb2.FieldDescriptorProto) -> str:
    if field.type_name:
        name = field.type_name.lstrip(".").removeprefix("execstream.v1.")
        kind = f"[{name}](#{anchor(name)})" if "." not in name else f"`{name}`"
    else:
        kind = f"`{SCALARS[field.type]}`"
    if field.label == descriptor_pb2.FieldDescriptorProto.LABEL_REPEATED:
        return f"repeated {kind}"
    if field.proto3_optional:
        return f"optional {kind}"
    return kind


def anchor(name: str) -> str:
    return name.lower().replace(".", "")


def cell(text: str) -> str:
    return text.replace("|", "\\|")


def render_message(
    lines: list[str],
    message: descriptor_pb2.DescriptorProto,
    path: tuple[int, ...],
    comments: dict[tuple[int, ...], str],
    prefix: str = "",
) -> None:
    name = prefix + message.name
    if message.options.map_entry:
        return
    lines += [f"### {name}", "", comments.get(path, ""), ""]
    if message.field:
        lines += ["| Field | # | Type | Meaning |", "|---|---|---|---|"]
        oneofs = [o.name for o in message.oneof_decl]
        for i, field in enumerate(message.field):
            meaning = comments.get((*path, FIELD, i), "")
            if field.HasField("oneof_index") and not field.proto3_optional:
                meaning = f"(oneof `{oneofs[field.oneof_index]}`) {meaning}"
            kind = field_type(field)
            short = field.type_name.rsplit(".", 1)[-1]
            entry = next((m for m in message.nested_type if m.name == short), None)
            if entry is not None and entry.options.map_entry:
                kind = f"map<{field_type(entry.field[0])}, {field_type(entry.field[1])}>"
            lines.append(f"| `{field.name}` | {field.number} | {kind} | {cell(meaning)} |")
        lines.append("")
    for i, nested in enumerate(message.nested_type):
        render_message(lines, nested, (*path, NESTED, i), comments, prefix=f"{name}.")
    for i, enum in enumerate(message.enum_type):
        render_enum(lines, enum, (*path, NESTED_ENUM, i), comments, prefix=f"{name}.")


def render_enum(
    lines: list[str],
    enum: descriptor_pb2.EnumDescriptorProto,
    path: tuple[int, ...],
    comments: dict[tuple[int, ...], str],
    prefix: str = "",
) -> None:
    lines += [f"### {prefix}{enum.name}", "", comments.get(path, ""), ""]
    lines += ["| Value | # | Meaning |", "|---|---|---|"]
    for i, value in enumerate(enum.value):
        meaning = comments.get((*path, ENUM_VALUE, i), "")
        lines.append(f"| `{value.name}` | {value.number} | {cell(meaning)} |")
    lines.append("")


def render() -> str:
    lines = [
        "# API reference: `execstream.v1`",
        "",
        "Generated by `scripts/gen_api_docs.py` from the hand-written sections in",
        "`docs/contract/` and the comments in `protos/execstream/v1/*.proto`; do not edit",
        "by hand (a test fails when it is stale). Flags and limits are in",
        "[operations.md](operations.md).",
        "",
    ]
    for section in sorted(SECTIONS.glob("*.md")):
        lines += [section.read_text().strip(), ""]
    lines += ["## Reference", ""]
    # The service first: it is where a client author starts reading.
    for file in sorted(descriptors().file, key=lambda f: not f.service):
        comments = comment_map(file)
        lines += [f"## {file.name}", ""]
        for s, service in enumerate(file.service):
            lines += [f"### service {service.name}", "", comments.get((SERVICE, s), ""), ""]
            for m, method in enumerate(service.method):
                stream_in = "stream " if method.client_streaming else ""
                stream_out = "stream " if method.server_streaming else ""
                request = method.input_type.lstrip(".").removeprefix("execstream.v1.")
                response = method.output_type.lstrip(".").removeprefix("execstream.v1.")
                lines += [
                    f"#### rpc {method.name}",
                    "",
                    f"`{method.name}({stream_in}{request}) returns ({stream_out}{response})`",
                    "",
                    comments.get((SERVICE, s, METHOD, m), ""),
                    "",
                ]
        for i, message in enumerate(file.message_type):
            render_message(lines, message, (MESSAGE, i), comments)
        for i, enum in enumerate(file.enum_type):
            render_enum(lines, enum, (ENUM, i), comments)
    text = "\n".join(lines)
    while "\n\n\n" in text:
        text = text.replace("\n\n\n", "\n\n")
    return text.rstrip() + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="fail if docs/api.md is stale")
    args = parser.parse_args()
    text = render()
    if args.check:
        if not OUT.exists() or OUT.read_text() != text:
            print("docs/api.md is stale: run scripts/gen_api_docs.py", file=sys.stderr)
            return 1
        return 0
    OUT.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
