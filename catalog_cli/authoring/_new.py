"""``catalog new``: an interface, a version or a customer plugin, written so that the catalog
still passes ``catalog check``, with the next steps said."""

from __future__ import annotations

import ast
import keyword
import re
import sys
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

from ..declarations import Interface, Parameter, Version
from ..errors import CatalogError, ScaffoldError, UnknownInterfaceError
from ._files import Created, write_files
from ._python import def_line

if TYPE_CHECKING:
    from ..registry import Registry

_NAME = re.compile(r"[a-z][a-z0-9_]*\Z")


def _check_name(what: str, name: str) -> None:
    if not _NAME.match(name) or keyword.iskeyword(name) or re.search(r"_v\d", name):
        raise ScaffoldError(
            message=f"{what} name {name!r} is not usable: use lowercase letters, digits and "
            "underscores, starting with a letter, without a version suffix like _v2"
        )


def _folder(registry: Registry, which: str) -> Path:
    config = registry.config
    folder = config.hookspecs_dir if which == "hookspecs" else config.builtins_dir
    if folder is None:
        key = "hookspecs_dir" if which == "hookspecs" else "builtins_dir"
        raise ScaffoldError(message=f"[catalog] {key} is switched off in {config.path}")
    return folder


def _interface(registry: Registry, name: str) -> Interface:
    found = registry.interfaces.get(name)
    if found is None:
        raise UnknownInterfaceError(name, registry.interfaces)
    return found


def new_interface(registry: Registry, name: str) -> Created:
    """A new interface ``name`` with version 1 and a plugin point, and its built-in."""
    _check_name("interface", name)
    if name in registry.interfaces:
        raise ScaffoldError(message=f"interface {name!r} is declared already")
    spec = _folder(registry, "hookspecs") / f"{name}.py"
    builtin = _folder(registry, "builtins") / f"{name}.py"
    files = {
        spec: f'''
            """What {name} does, in one line (the interface's summary in listings)."""

            from __future__ import annotations

            from catalog_cli import Context, entrypoint, plugin_point


            @entrypoint
            def {name}_v1(ctx: Context, text: str) -> str:
                """What version 1 returns for ``text``."""


            @plugin_point({name}_v1, policy="collect")
            def {name}_v1_extra(ctx: Context, text: str) -> str | None:
                """Return a line to add to the result, or None."""
            ''',
        builtin: f'''
            """The catalog's own implementation of {name}."""

            from __future__ import annotations

            from catalog_cli import Context, hookimpl


            @hookimpl
            def {name}_v1(ctx: Context, text: str) -> str:
                lines = [text]
                lines.extend(ctx.points.extra(text=text))
                return "\\n".join(lines)
            ''',
    }
    tenant = next(iter(registry.config.tenants), "TENANT")
    return Created(
        write_files(files),
        (
            f"declare the parameters, return type and plugin points of {name} v1 in {spec}",
            f"implement them in {builtin}",
            f"catalog run {name} --customer {tenant} --arg text=hello",
            "catalog check",
        ),
    )


def new_version(registry: Registry, interface: str) -> Created:
    """Version N+1 of ``interface``: a copy of its latest version (declaration, plugin points
    and the built-in's implementation) in files of its own, to change."""
    found = _interface(registry, interface)
    old = found.versions[found.latest]
    number = old.number + 1
    stem = f"{interface}_v{number}"
    spec_path = _folder(registry, "hookspecs") / f"{stem}.py"
    builtin_path = _folder(registry, "builtins") / f"{stem}.py"
    hooks = {old.hook, *(point.hook for point in old.points.values())}
    spec_source = _module_source(old.module)
    spec = _copy(spec_source, hooks, old, number, entry=old.hook)
    builtin_sources = [
        (module.__name__, source)
        for module in (plugin.module for plugin in registry.builtins)
        if module is not None and (source := _module_file_source(module.__name__)) is not None
    ]
    implementations = [
        _copy(source, hooks, old, number, entry=None, package_module=name)
        for name, source in builtin_sources
        if _defines(source, hooks)
    ]
    files = {spec_path: _module(f"Version {number} of {interface}.", [spec])}
    if implementations:
        files[builtin_path] = _module(
            f"The catalog's implementation of {interface} v{number}.", implementations
        )
    default = registry.config.versions.get(interface)
    pin = (
        f"the catalog default stays v{default} ([catalog.versions]); tenants move with "
        f"versions = {{ {interface} = {number} }} in their table, or with a canary"
        if default is not None
        else f"{interface} has no catalog default, so v{number} now runs for every tenant "
        f"without a pin: set [catalog.versions] {interface} = {old.number} to roll out slowly"
    )
    return Created(
        write_files(files),
        (
            f"change the declaration of {interface} v{number} in {spec_path}",
            f"change its implementation in {builtin_path}"
            if implementations
            else f"implement {interface}_v{number} in {_folder(registry, 'builtins')}",
            pin,
            f"catalog run {interface} --version {number} --customer "
            f"{next(iter(registry.config.tenants), 'TENANT')}",
            "catalog check",
        ),
    )


def new_plugin(
    registry: Registry, customer: str, interface: str, version: int | None = None
) -> Created:
    """A customer plugin ``<customer>.<interface>`` implementing each plugin point of the
    version (the latest unless given) with a body that adds nothing yet."""
    _check_name("customer", customer)
    found = _interface(registry, interface)
    chosen = found.version(found.latest if version is None else version)
    if not registry.config.plugin_dirs:
        raise ScaffoldError(message=f"[catalog] plugin_dirs is empty in {registry.config.path}")
    folder = registry.config.plugin_dirs[0]
    path = folder / customer / f"{interface}.py"
    name = f"{customer}.{interface}"
    if name in registry.sources:
        raise ScaffoldError(
            message=f"plugin {name!r} exists already: {registry.sources[name].describe()}"
        )
    files = {path: _plugin_module(customer, chosen)}
    tenant = customer if customer in registry.config.tenants else None
    select = (
        f'select it for tenant {tenant!r}: plugins = ["{name}"] in [tenants.{tenant}]'
        if tenant is not None
        else f'select it for a tenant: plugins = ["{name}"] in [tenants.<id>] of catalog.toml'
    )
    steps = [f"write its behaviour in {path}", select]
    if tenant is not None and _runs(registry, tenant, interface) not in (None, chosen.number):
        steps.append(
            f"tenant {tenant!r} runs another version of {interface}: pin it with "
            f"versions = {{ {interface} = {chosen.number} }}"
        )
    steps += [
        f"catalog check --plugin {name}",
        f"catalog run {interface} --version {chosen.number} --customer {tenant or '<id>'}",
    ]
    return Created(write_files(files), tuple(steps))


def _runs(registry: Registry, tenant: str, interface: str) -> int | None:
    try:
        return registry.resolve(interface, tenant, None, {}).version
    except CatalogError:
        return None


# -- copying a version ---------------------------------------------------------------------


def _module_file_source(module_name: str) -> str | None:
    module = sys.modules.get(module_name)
    file = getattr(module, "__file__", None)
    if not file:
        return None
    try:
        return Path(file).read_text(encoding="utf-8")
    except OSError:
        return None


def _module_source(module_name: str) -> str:
    source = _module_file_source(module_name)
    if source is None:
        raise ScaffoldError(message=f"the source of {module_name} cannot be read to copy it")
    return source


def _defines(source: str, hooks: set[str]) -> bool:
    tree = ast.parse(source)
    return any(isinstance(n, ast.FunctionDef) and n.name in hooks for n in tree.body)


def _import_nodes(tree: ast.Module | None) -> list[ast.Import | ast.ImportFrom]:
    return [
        node
        for node in (tree.body if tree is not None else ())
        if isinstance(node, (ast.Import, ast.ImportFrom))
        and not (isinstance(node, ast.ImportFrom) and node.module == "__future__")
    ]


def _imports(
    nodes: list[ast.Import | ast.ImportFrom], code: str, extra: list[tuple[str, list[str]]]
) -> str:
    """Import lines for ``code``: of ``nodes`` only the names it uses, plus ``extra``
    (module, names); merged per module and grouped as isort does (standard library and
    others, catalog_cli, then relative modules)."""
    used = set(re.findall(r"[A-Za-z_][A-Za-z0-9_]*", code))
    plain: set[str] = set()
    names: dict[str, set[str]] = {}
    for node in nodes:
        for alias in node.names:
            if (alias.asname or alias.name).split(".")[0] not in used:
                continue
            shown = alias.name + (f" as {alias.asname}" if alias.asname else "")
            if isinstance(node, ast.Import):
                plain.add(shown)
            else:
                names.setdefault("." * node.level + (node.module or ""), set()).add(shown)
    for module, more in extra:
        names.setdefault(module, set()).update(more)
    # within a group, as isort and ruff do: `import x` lines first, then `from x import y`
    lines = [(0, name, f"import {name}") for name in plain]
    lines += [
        (1, module, f"from {module} import {', '.join(sorted(n))}") for module, n in names.items()
    ]
    groups: list[list[str]] = [[], [], []]
    for _kind, module, line in sorted(lines):
        index = 2 if module.startswith(".") else 1 if module.split(".")[0] == "catalog_cli" else 0
        groups[index].append(line)
    return "\n\n".join("\n".join(group) for group in groups if group)


class _Copied(NamedTuple):
    """The parts of a module a copy needs: its imports, the names it borrows from the module
    (``origin``), and the copied functions."""

    imports: list[ast.Import | ast.ImportFrom]
    borrowed: list[str]
    origin: str
    functions: str


def _copy(
    source: str,
    hooks: set[str],
    old: Version,
    number: int,
    *,
    entry: str | None,
    package_module: str | None = None,
) -> _Copied:
    tree = ast.parse(source)
    lines = source.splitlines()
    imports = _import_nodes(tree)
    defined_elsewhere = _top_level_names(tree) - hooks
    copied = []
    used: set[str] = set()
    rename = re.compile(rf"\b{re.escape(old.interface)}_v{old.number}(?=\b|_)")
    for node in tree.body:
        if not isinstance(node, ast.FunctionDef) or node.name not in hooks:
            continue
        start = min([d.lineno for d in node.decorator_list] + [node.lineno]) - 1
        text = "\n".join(lines[start : node.end_lineno])
        if node.name == entry:
            for decorator in node.decorator_list:
                if isinstance(decorator, ast.Call):  # deprecated=..., sunset=...: not for a copy
                    old_text = ast.get_source_segment(source, decorator) or ""
                    text = text.replace(old_text, ast.unparse(decorator.func), 1)
        used |= {n.id for n in ast.walk(node) if isinstance(n, ast.Name)}
        copied.append(rename.sub(f"{old.interface}_v{number}", text))
    borrowed = sorted(used & defined_elsewhere)
    origin = (package_module or old.module).rsplit(".", 1)[-1]
    return _Copied(imports, borrowed, origin, "\n\n\n".join(copied))


def _top_level_names(tree: ast.Module) -> set[str]:
    names: set[str] = set()
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.ClassDef, ast.AsyncFunctionDef)):
            names.add(node.name)
        elif isinstance(node, ast.Assign):
            names |= {t.id for t in node.targets if isinstance(t, ast.Name)}
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            names.add(node.target.id)
    return names


def _module(doc: str, parts: list[_Copied]) -> str:
    body = "\n\n\n".join(part.functions for part in parts)
    # the sibling module of the same catalog folder: relative imports work there
    borrowed = [(f".{part.origin}", part.borrowed) for part in parts if part.borrowed]
    nodes = [node for part in parts for node in part.imports]
    header = f'"""{doc}"""\n\nfrom __future__ import annotations\n\n' + _imports(
        nodes, body, borrowed
    )
    return header + "\n\n\n" + body + "\n"


# -- a plugin ---------------------------------------------------------------------------------


def _plugin_module(customer: str, version: Version) -> str:
    source = _module_file_source(version.module) or ""
    tree = ast.parse(source) if source else None
    nodes = {
        node.name: node
        for node in (tree.body if tree is not None else ())
        if isinstance(node, ast.FunctionDef)
    }
    functions = []
    needs_generator = False
    for point in version.points.values():
        params, returns = _annotations(
            source, nodes.get(point.hook), point.parameters, point.returns
        )
        summary = _first_line(point.doc)
        if point.policy == "wrap":
            needs_generator = True
            functions.append(
                "@hookimpl(wrapper=True)\n"
                + def_line(point.hook, params, f"Generator[None, {returns}, {returns}]")
                + f"    # {summary}\n"
                f"    result = yield  # what the catalog (and inner wrappers) computed\n"
                f"    return result"
            )
        else:
            functions.append(
                "@hookimpl\n" + def_line(point.hook, params, returns) + f"    # {summary}\n"
                f"    return None  # {_POLICY_NOTE.get(point.policy, 'adds nothing yet')}"
            )
    if not functions:  # no plugin points: a plugin can only wrap the entry point
        needs_generator = True
        params, returns = _annotations(
            source, nodes.get(version.hook), version.parameters, version.returns
        )
        functions.append(
            "@hookimpl(wrapper=True)\n"
            + def_line(version.hook, params, f"Generator[None, {returns}, {returns}]")
            + f"    # {version.interface} v{version.number} has no plugin points: wrap its result\n"
            f"    result = yield  # the catalog's result\n"
            f"    return result"
        )
    body = "\n\n\n".join(functions)
    extra = [("catalog_cli", ["Context", "hookimpl"])]
    if needs_generator:
        extra.append(("collections.abc", ["Generator"]))
    header = _imports(_import_nodes(tree), body, extra)
    return (
        f'"""{customer}: its behaviour at the plugin points of {version.interface} '
        f'v{version.number}."""\n\nfrom __future__ import annotations\n\n{header}\n\n\n'
        + body
        + "\n"
    )


_POLICY_NOTE = {
    "collect": "None adds no result to the collected ones",
    "first": "None lets the next plugin (or the catalog) answer",
}


def _annotations(
    source: str, node: ast.FunctionDef | None, parameters: tuple[Parameter, ...], returns: str
) -> tuple[list[str], str]:
    """The parameters and return annotation of a hook as its declaration writes them (so
    the plugin's imports fit), else as the catalog shows them."""
    if node is not None:
        args = node.args.args
        shown = ["ctx: Context"]
        for arg in args[1:]:
            note = ast.get_source_segment(source, arg.annotation) if arg.annotation else None
            shown.append(f"{arg.arg}: {note}" if note else arg.arg)
        result = ast.get_source_segment(source, node.returns) if node.returns else None
        return shown, result or returns
    return ["ctx: Context", *(f"{p.name}: {p.annotation}" for p in parameters)], returns


def _first_line(doc: str) -> str:
    return doc.strip().split("\n", 1)[0] if doc else "what this plugin point is for"
