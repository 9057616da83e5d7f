"""Deployed code runs on Python 3.13 while tests run on 3.11: nothing in it may use what 3.12/3.13 removed."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from infra.bundling import LAMBDA_ARCHITECTURE, LAMBDA_PLATFORM, LAMBDA_PYTHON_VERSION, LAMBDA_RUNTIME
from tests.support.template import ROOT

DEPLOYED_SOURCES = ("shared", "functions")

# PEP 594's dead batteries (gone in 3.13), lib2to3 and tkinter.tix (3.13), and the modules 3.12 removed
# (PEP 632's distutils, asynchat, asyncore, imp, smtpd): an import of any of them fails on Lambda only.
REMOVED_MODULES = frozenset(
    {
        "aifc",
        "audioop",
        "cgi",
        "cgitb",
        "chunk",
        "crypt",
        "imghdr",
        "mailcap",
        "msilib",
        "nis",
        "nntplib",
        "ossaudiodev",
        "pipes",
        "sndhdr",
        "spwd",
        "sunau",
        "telnetlib",
        "uu",
        "xdrlib",
        "lib2to3",
        "tkinter.tix",
        "distutils",
        "asynchat",
        "asyncore",
        "imp",
        "smtpd",
    }
)
# Module-level names 3.12/3.13 removed from modules that still exist.
REMOVED_NAMES = frozenset(
    {
        ("locale", "resetlocale"),
        ("typing", "io"),
        ("typing", "re"),
        ("ssl", "wrap_socket"),
        ("ssl", "match_hostname"),
        ("configparser", "SafeConfigParser"),
        ("unittest", "findTestCases"),
        ("unittest", "makeSuite"),
        ("unittest", "getTestCaseNames"),
    }
)


def _removed_module(name: str) -> str | None:
    """`name` itself or the removed package it lives in (`distutils.core` -> `distutils`)."""
    parts = name.split(".")
    for end in range(1, len(parts) + 1):
        if ".".join(parts[:end]) in REMOVED_MODULES:
            return ".".join(parts[:end])
    return None


def removed_uses(source: str, filename: str = "<source>") -> list[str]:
    """Each use of a removed module or name in `source`, as `line: what`."""
    tree = ast.parse(source, filename)
    found: list[str] = []
    # Local name -> module, for `import locale` / `import locale as loc` followed by `loc.resetlocale`.
    module_aliases: dict[str, str] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if removed := _removed_module(alias.name):
                    found.append(f"{node.lineno}: import {removed}")
                module_aliases[alias.asname or alias.name.split(".")[0]] = alias.name
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if removed := _removed_module(node.module):
                found.append(f"{node.lineno}: from {removed} import ...")
                continue
            for alias in node.names:
                qualified = f"{node.module}.{alias.name}"
                if _removed_module(qualified) or (node.module, alias.name) in REMOVED_NAMES:
                    found.append(f"{node.lineno}: {qualified}")
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
            module = module_aliases.get(node.value.id)
            if module and (module, node.attr) in REMOVED_NAMES:
                found.append(f"{node.lineno}: {module}.{node.attr}")
    return found


def deployed_files() -> list[Path]:
    return sorted(p for folder in DEPLOYED_SOURCES for p in (ROOT / folder).rglob("*.py"))


def test_the_scan_covers_the_deployed_code() -> None:
    files = deployed_files()
    assert ROOT / "shared" / "config.py" in files
    assert ROOT / "functions" / "invoices" / "handler.py" in files


def test_no_deployed_module_uses_what_python_313_removed() -> None:
    offenders = {
        str(path.relative_to(ROOT)): uses
        for path in deployed_files()
        if (uses := removed_uses(path.read_text(), str(path)))
    }
    assert offenders == {}


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("import cgi\n", ["1: import cgi"]),
        ("import os, telnetlib as t\n", ["1: import telnetlib"]),
        ("from distutils.core import setup\n", ["1: from distutils import ..."]),
        ("from tkinter import tix\n", ["1: tkinter.tix"]),
        ("from locale import resetlocale\n", ["1: locale.resetlocale"]),
        ("import locale as loc\n\nloc.resetlocale()\n", ["3: locale.resetlocale"]),
        ("import locale\nlocale.setlocale(locale.LC_ALL, '')\n", []),
        ("import cgitb_helpers\nfrom .uu import x\n", []),
    ],
)
def test_the_scan_finds_removed_modules_and_names(source: str, expected: list[str]) -> None:
    assert removed_uses(source) == expected


def test_layer_wheels_are_asked_for_the_functions_runtime_and_architecture() -> None:
    assert LAMBDA_RUNTIME.name == f"python{LAMBDA_PYTHON_VERSION}" == "python3.13"
    assert LAMBDA_ARCHITECTURE.name == "arm64"
    assert LAMBDA_PLATFORM == "manylinux2014_aarch64"
