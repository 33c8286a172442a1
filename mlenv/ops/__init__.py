"""The workflows under the command line, one module each, every one a function over a
`Project` value returning a typed result (DESIGN, second stage)."""

from .project import Project, find_manifest

__all__ = ["Project", "find_manifest"]
