"""The one Jinja2 environment of every renderer: templates under `templates/`, undefined
names an error, no autoescape (each renderer quotes user strings for its own syntax)."""

from __future__ import annotations

import functools
from pathlib import Path

import jinja2


@functools.cache
def template(name: str) -> jinja2.Template:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(Path(__file__).parent / "templates"),
        autoescape=False,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    return env.get_template(name)
