"""Classes from outside elpagen: by import path, or announced by installed packages.

``--models mypkg.generators:MyGenerator`` names a class by its import path
(:func:`import_class`, the one loader of ``module.path:ClassName``: generators, and campaign
strategies with their own :class:`PluginKind`); an installed package lists its generators in
the entry-point group ``elpagen.generators`` (:func:`entry_point_specs`). A generator must be
a concrete subclass of :class:`elpagen.generator.Generator` (:func:`check_generator_class`);
whatever goes wrong is one line (:class:`PluginError`) saying what the object is and how to
fix it. The catalogues (:mod:`elpagen.catalogue`, :mod:`elpagen.campaign.catalogue`) turn
them into records (docs/design.md, "Plug-in generators"); a record's own class is loaded by
:func:`load_target`.

No torch: this module imports the plug-in's module and nothing else.
"""

from __future__ import annotations

import contextlib
import dataclasses
import importlib
import importlib.metadata
import re
import sys
from collections.abc import Callable, Container, Iterator
from typing import Any

from elpagen.errors import InputError
from elpagen.generator import Generator

#: The entry-point group installed packages announce their generators in.
ENTRY_POINT_GROUP = "elpagen.generators"
#: Where the docs say how to write a plug-in (the errors end with it).
SEE = 'docs/design.md, "Plug-in generators"'
_PATH = re.compile(r"^[A-Za-z_]\w*(\.[A-Za-z_]\w*)*:[A-Za-z_]\w*(\.[A-Za-z_]\w*)*$")


class PluginError(InputError):
    """A generator named by import path or entry point that does not load, or is not a
    generator class."""


_DEFERRED = False  # while the command line is built (installed_later)


@contextlib.contextmanager
def installed_later() -> Iterator[None]:
    """Read no installed plug-in meanwhile (the command line's help texts name the
    built-ins): a broken or slow one must not touch every command, ``--help`` included;
    the catalogue reads them when a command first needs them."""
    global _DEFERRED
    before, _DEFERRED = _DEFERRED, True
    try:
        yield
    finally:
        _DEFERRED = before


def deferred() -> bool:
    """Whether installed plug-ins are not to be read now (:func:`installed_later`)."""
    return _DEFERRED


def is_plugin_path(text: str) -> bool:
    """Whether ``text`` names a class by import path, ``module.path:ClassName``."""
    return bool(_PATH.match(text))


def first_line(e: BaseException) -> str:
    """The first line of an exception's message ('' when it has none; a ``SystemExit``:
    ``sys.exit(CODE)``)."""
    if isinstance(e, SystemExit):
        return f"sys.exit({e.code!r})"
    text = str(e).strip()
    return text.splitlines()[0] if text else ""


def quiet_stdout() -> contextlib.AbstractContextManager[Any]:
    """While code of your own runs (a plug-in's module imported, its fit or propose), what
    it prints goes to stderr: stdout is the command's output (``--json``, ``sample -o -``)."""
    return contextlib.redirect_stdout(sys.stderr)


def describe(obj: Any) -> str:
    """``obj`` in a few words, for an error."""
    if isinstance(obj, type):
        return f"the class {obj.__module__}.{obj.__qualname__}"
    if isinstance(obj, Generator):
        return f"an instance of {type(obj).__qualname__} (name the class, not an instance)"
    kind = type(obj).__name__
    return f"{'an' if kind[:1] in 'aeiou' else 'a'} {kind}"


def check_generator_class(obj: Any, what: str) -> type:
    """``obj`` if it is a concrete subclass of :class:`~elpagen.generator.Generator`;
    one line naming ``what`` otherwise."""
    if not isinstance(obj, type) or not issubclass(obj, Generator):
        raise PluginError(f"{what} is {describe(obj)}, not a generator: give a subclass of "
                          f"elpagen.Generator with fit and propose ({SEE})")
    missing = sorted(getattr(obj, "__abstractmethods__", ()))
    if missing:
        raise PluginError(f"{what}: {obj.__qualname__} does not implement "
                          f"{' and '.join(missing)} (an elpagen.Generator needs fit and "
                          f"propose; {SEE})")
    return obj


@dataclasses.dataclass(frozen=True)
class PluginKind:
    """What a ``module.path:ClassName`` must name, for :func:`import_class` and its errors."""

    what: str
    """The word of the errors: ``model 'x:Y': ...``."""
    noun: str
    """The classes listed when the module lacks the name: ``its generator classes: ...``."""
    base: type
    """The class the plug-in subclasses (its subclasses in the module are those listed)."""
    example: str
    """An import path that shows the form, ``mypkg.generators:MyGenerator``."""
    check: Callable[[Any, str], type]
    """The object if it is one, else a one-line :class:`PluginError` (what, for its errors)."""
    see: str = SEE
    """Where the docs say how to write one (the errors end with it)."""


#: A generator plug-in (``--models``).
GENERATORS = PluginKind("model", "generator", Generator, "mypkg.generators:MyGenerator",
                        check_generator_class)


def load_target(target: str | type) -> Any:
    """The object a catalogue record names: the class itself, or what its import path
    ``module.path:Name`` names (a record's target, checked when it was made: errors as
    they come)."""
    if not isinstance(target, str):
        return target
    module, _, attr = target.partition(":")
    with quiet_stdout():  # a module that prints when imported
        obj: Any = importlib.import_module(module)
    for part in attr.split("."):
        obj = getattr(obj, part)
    return obj


def import_class(path: str, kind: PluginKind = GENERATORS) -> type:
    """The class at ``module.path:ClassName`` (a generator, or what ``kind`` says): one line
    when the module does not import (with its own error's first line), lacks the name, or
    the object is not one."""
    what = f"{kind.what} {path!r}"
    if not is_plugin_path(path):
        raise PluginError(f"{what}: a plug-in is named module.path:ClassName, e.g. "
                          f"{kind.example} ({kind.see})")
    module, _, attr = path.partition(":")
    try:
        with quiet_stdout():
            importlib.import_module(module)
    except (Exception, SystemExit) as e:  # noqa: BLE001 - whatever it raises, in one line
        hint = ""
        if isinstance(e, ModuleNotFoundError) and e.name and \
                (module == e.name or module.startswith(e.name + ".")):
            hint = "; put its directory on PYTHONPATH or install its package"
        raise PluginError(f"{what}: cannot import {module!r} "
                          f"({type(e).__name__}: {first_line(e)}){hint}") from None
    try:
        obj = load_target(path)
    except AttributeError:
        raise PluginError(f"{what}: module {module!r} has no {attr!r}"
                          f"{_classes_in(sys.modules[module], kind)}") from None
    return kind.check(obj, what)


def _classes_in(module: Any, kind: PluginKind) -> str:
    found = sorted(k for k, v in vars(module).items() if isinstance(v, type)
                   and issubclass(v, kind.base) and v.__module__ == module.__name__)
    return f" (its {kind.noun} classes: {', '.join(found)})" if found else ""


def class_version(cls: type) -> str:
    """The class's ``__version__``, else its module's ('' when neither has one)."""
    v = getattr(cls, "__version__", None) or \
        getattr(sys.modules.get(cls.__module__), "__version__", None)
    return str(v) if v else ""


def class_description(cls: type) -> str:
    """The first line of the class's own docstring ('' without one)."""
    doc = cls.__dict__.get("__doc__") or ""
    return next((ln.strip() for ln in doc.splitlines() if ln.strip()), "")


def plugin_name(cls: type, path: str | None, taken: Container[str]) -> str:
    """The catalogue name of a plug-in class (docs/design.md, "Plug-in generators"): its
    ``name`` when that is a model name of its own (letters, digits, '-', '_'; not the base
    class's ``"generator"``) not ``taken``, else its import path ``module:ClassName``."""
    n = getattr(cls, "name", None)
    if isinstance(n, str) and n != Generator.name and n not in taken and \
            n.replace("_", "").replace("-", "").isalnum():
        return n
    own = f"{cls.__module__}:{cls.__qualname__}"
    if path or is_plugin_path(own):
        return path or own
    raise PluginError(f"cannot name the generator class {cls.__qualname__}: its name {n!r} "
                      "is taken or not a model name, and it has no import path; give it "
                      "name = 'a-unique-name'")


def check_submittable(name: str, cls: type) -> str:
    """``name`` if a submission file can name its generator so (``-o``: letters, digits,
    '-' and '_'); a plug-in registered under its import path (its ``name`` missing, taken
    or not a model name: :func:`plugin_name`) gets one line, before any work."""
    if not is_plugin_path(name):
        return name
    own = getattr(cls, "name", None)
    why = "none" if own in (None, Generator.name) else f"{own!r}, taken or not a model name"
    raise PluginError(f"model {name!r} has no name of its own (its class's name: {why}), "
                      "and a submission file (-o) names its generator: give the class "
                      f"name = 'a-unique-name' (letters, digits, '-' and '_'; {SEE})")


def entry_point_specs(spec_type: type, make_spec: Callable[..., Any],
                      group: str = ENTRY_POINT_GROUP) -> list[tuple[Any, Any]]:
    """(entry point, its record or the exception that stopped it) for every entry point of
    ``group``: an object of ``spec_type`` (a catalogue record) is taken as it is (with its
    package's version when it has none), a generator class becomes
    ``make_spec(cls, ep.name, target, version=...)``. A broken plug-in never stops the
    others: the caller reports it."""
    out: list[tuple[Any, Any]] = []
    for ep in importlib.metadata.entry_points(group=group):
        try:
            with quiet_stdout():
                obj = ep.load()
            version = str(getattr(getattr(ep, "dist", None), "version", "") or "")
            if isinstance(obj, spec_type):
                out.append((ep, dataclasses.replace(obj, version=obj.version or version)))
                continue
            cls = check_generator_class(obj, f"entry point {ep.name!r}")
            target = ep.value if is_plugin_path(ep.value) else cls
            out.append((ep, make_spec(cls, ep.name, target,
                                      version=class_version(cls) or version)))
        except (Exception, SystemExit) as e:  # noqa: BLE001 - the caller says it, one line
            out.append((ep, e))
    return out
