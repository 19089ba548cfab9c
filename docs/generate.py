"""Write the generated pages of the documentation site: the spec reference (from the pydantic schema)
and the CLI reference (from the Typer app). `python docs/generate.py` rewrites them;
tests/test_docs.py fails when a page on disk differs from what this makes.

It also brings the line counts of architecture.md's layout up to date (not tested: a count changes
with every edit) and names a module the layout leaves out, or one it lists that is gone.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import typer.main

from nnctl.cli.commands import app
from nnctl.spec.config import Spec

HERE = Path(__file__).resolve().parent
PAGES = {"reference/spec.md": "spec_reference", "reference/cli.md": "cli_reference"}


def _type(prop: dict, defs: dict) -> str:
    """A JSON-schema property as a short type: `integer > 0`, `'auto' | 'none'`, `list of number`."""
    if "$ref" in prop:
        return defs[prop["$ref"].split("/")[-1]].get("title", "mapping") + " (see below)"
    if "anyOf" in prop:
        return " or ".join(_type(p, defs) for p in prop["anyOf"] if p.get("type") != "null")
    if "enum" in prop:
        return " or ".join(f"`{v}`" for v in prop["enum"])
    if "const" in prop:
        return f"`{prop['const']}`"
    kind = prop.get("type", "any")
    if kind == "array":
        inner = _type(prop.get("items", {}), defs)
        size = f" ({prop['minItems']}+ items)" if "minItems" in prop else ""
        return f"list of {inner}{size}"
    if kind == "object":
        extra = prop.get("additionalProperties")
        return f"mapping to {_type(extra, defs)}" if isinstance(extra, dict) else "mapping"
    limits = []
    for key, sign in (("exclusiveMinimum", ">"), ("minimum", "≥"), ("exclusiveMaximum", "<"), ("maximum", "≤")):
        if key in prop:
            limits.append(f"{sign} {prop[key]:g}")
    if "minLength" in prop:
        limits.append(f"length ≥ {prop['minLength']}")
    if "maxLength" in prop:
        limits.append(f"length ≤ {prop['maxLength']}")
    return kind + (" " + ", ".join(limits) if limits else "")


def _default(prop: dict, required: bool) -> str:
    if required:
        return "**required**"
    if "default" not in prop:
        return ""
    value = prop["default"]
    if isinstance(value, dict):
        return "see below"
    if value is None:
        return "none"
    if isinstance(value, bool):
        return f"`{str(value).lower()}`"
    return f"`{value}`"


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def spec_reference() -> str:
    schema = Spec.model_json_schema()
    defs = schema.get("$defs", {})
    out = [
        "# Spec reference",
        "",
        "Generated from the pydantic schema in `nnctl/spec/config.py` by `python docs/generate.py`;",
        "`tests/test_docs.py` fails when this page is out of date. Every key can also be given on the",
        "command line as `--set section.key=value`.",
        "",
    ]

    def section(title: str, model: dict, prefix: str) -> None:
        out.extend([f"## `{title}`", ""])
        if model.get("description"):
            out.extend([model["description"], ""])
        out.extend(["| key | type | default | meaning |", "| --- | --- | --- | --- |"])
        required = set(model.get("required", []))
        nested = []
        for key, prop in model.get("properties", {}).items():
            out.append(f"| `{prefix}{key}` | {_cell(_type(prop, defs))} | {_default(prop, key in required)} | {_cell(prop.get('description', ''))} |")
            refs = [prop] + prop.get("anyOf", [])
            for ref in refs:
                if "$ref" in ref:
                    nested.append((f"{prefix}{key}", defs[ref["$ref"].split("/")[-1]]))
        out.append("")
        for path, sub in nested:
            section(path, sub, path + ".")

    top = {k: v for k, v in schema["properties"].items()}
    out.extend(["## Top level", "", "| key | type | default | meaning |", "| --- | --- | --- | --- |"])
    required = set(schema.get("required", []))
    sections = []
    for key, prop in top.items():
        out.append(f"| `{key}` | {_cell(_type(prop, defs))} | {_default(prop, key in required)} | {_cell(prop.get('description', ''))} |")
        for ref in [prop] + prop.get("anyOf", []):
            if "$ref" in ref:
                sections.append((key, defs[ref["$ref"].split("/")[-1]]))
    out.append("")
    for key, model in sections:
        section(key, model, key + ".")
    return "\n".join(out).rstrip() + "\n"


def _params(command) -> list[str]:
    rows = []
    for p in command.params:
        if p.param_type_name == "argument":
            name = f"`{(p.metavar or p.name).upper()}`"
            kind = "argument" + ("" if p.required else " (optional)")
        else:
            if p.hidden:
                continue
            name = ", ".join(f"`{o}`" for o in p.opts + p.secondary_opts)
            kind = "flag" if p.is_flag else "option"
        help_text = getattr(p, "help", None) or ""
        default = ""
        if p.param_type_name != "argument" and not p.is_flag and p.default not in (None, (), [], False):
            default = f" (default: `{p.default}`)"
        rows.append(f"| {name} | {kind} | {_cell(help_text)}{default} |")
    return rows


def cli_reference() -> str:
    root = typer.main.get_command(app)
    out = [
        "# CLI reference",
        "",
        "Generated from the Typer app in `nnctl/cli/commands.py` by `python docs/generate.py`;",
        "`tests/test_docs.py` fails when this page is out of date. `nnctl COMMAND --help` prints the same.",
        "",
    ]

    def walk(command, path: list[str]) -> None:
        ctx = command.context_class(command, info_name=" ".join(path))
        if path[1:]:
            out.extend([f"## `{' '.join(path)}`", ""])
            out.extend([(command.help or "").strip(), ""])
            usage = command.collect_usage_pieces(ctx)
            pieces = [re.sub(r"\{(\w+)\}", lambda m: m.group(1).upper(), u) for u in usage]
            out.extend(["```", f"{' '.join(path)} {' '.join(pieces)}".rstrip(), "```", ""])
            rows = _params(command)
            if rows:
                out.extend(["| name | kind | meaning |", "| --- | --- | --- |", *rows, ""])
        if hasattr(command, "list_commands"):
            for name in sorted(command.list_commands(ctx)):
                sub = command.get_command(ctx, name)
                if sub is not None and not sub.hidden:
                    walk(sub, path + [name])

    walk(root, ["nnctl"])
    return "\n".join(out).rstrip() + "\n"


def pages() -> dict[str, str]:
    makers = {"spec_reference": spec_reference, "cli_reference": cli_reference}
    return {path: makers[name]() for path, name in PAGES.items()}


def _lines(path: Path) -> int:
    return len(path.read_text(encoding="utf-8").splitlines())


def layout_counts(text: str, package: Path) -> tuple[str, list[str]]:
    """architecture.md with each line count of its layout block recomputed from `package` (a file's
    lines; a folder's: its modules' but the __init__.py docstrings; the total: every module), and the
    problems: modules on disk the block does not list, entries it lists that are not on disk."""
    out, problems, listed, stack, inside = [], [], set(), [], False
    for line in text.split("\n"):
        if line.startswith("## The layout, with line counts"):
            inside = None  # the block opens at the next fence
        elif inside is None and line.startswith("```"):
            inside = True
            out.append(line)
            continue
        elif inside and line.startswith("```"):
            inside = False
        found = re.match(r"^( *)(\S+/?)( +)(\d+)(.*)$", line) if inside else None
        if not found or found.group(2).startswith("#"):
            out.append(line)
            continue
        indent, name, gap, number, rest = found.groups()
        depth = len(indent) // 2 - 1
        stack[depth:] = [name.rstrip("/")]
        if name == "total":
            count = sum(_lines(p) for p in package.rglob("*.py"))
        else:
            path = package.joinpath(*stack)
            listed.add(path)
            if not path.exists():
                problems.append(f"listed but not on disk: {path.relative_to(package.parent)}")
                out.append(line)
                continue
            count = _lines(path) if path.is_file() else sum(_lines(p) for p in path.rglob("*.py") if p.name != "__init__.py")
        width = len(gap) + len(number)
        out.append(f"{indent}{name}{str(count).rjust(width)}{rest}" if len(str(count)) < width else f"{indent}{name} {count}{rest}")
    for path in sorted(package.rglob("*.py")):
        if path.name != "__init__.py" and path not in listed:
            problems.append(f"not in the layout: {path.relative_to(package.parent)}")
    return "\n".join(out), problems


def main() -> int:
    for path, text in pages().items():
        target = HERE / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text, encoding="utf-8")
        print(f"wrote {target.relative_to(HERE.parent)}")
    page = HERE / "architecture.md"
    text, problems = layout_counts(page.read_text(encoding="utf-8"), HERE.parent / "nnctl")
    page.write_text(text, encoding="utf-8")
    print(f"wrote {page.relative_to(HERE.parent)} (line counts)")
    for problem in problems:
        print(f"  architecture.md: {problem}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
