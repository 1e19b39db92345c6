"""MkDocs hook (mkdocs.yml `hooks:`): adds the reference pages runner/docsgen.py makes from the code, and
fills the markers of hand-written pages, so that the site documents the parser, the error classes, the
schemas and the filters as they are. Nothing it makes is committed."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))  # the runner of this checkout, installed or not

from mkdocs.config.defaults import MkDocsConfig  # noqa: E402
from mkdocs.structure.files import File, Files  # noqa: E402

from runner import docsgen  # noqa: E402


def on_files(files: Files, config: MkDocsConfig) -> Files:
    for path, text in docsgen.pages().items():
        files.append(File.generated(config, path, content=text))
    return files


def on_page_markdown(markdown: str, **_: Any) -> str:
    return docsgen.fill(markdown)
