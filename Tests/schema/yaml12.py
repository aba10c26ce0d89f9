"""Load YAML with YAML 1.2 core-schema meaning, as cairn reads it.

ruamel.yaml's own 1.2 resolver still turns plain dates into date objects and
accepts 1_000 as an integer; the core schema has neither, so this resolver
knows only core-schema null, booleans, integers and floats.
"""
import re

from ruamel.yaml import YAML
from ruamel.yaml.resolver import BaseResolver


class CoreResolver(BaseResolver):
    def __init__(self, version=None, loader=None, loadumper=None):
        BaseResolver.__init__(self, loadumper=loader if loader is not None else loadumper)
        self._loader_version = version

    @property
    def processing_version(self):
        return (1, 2)


CoreResolver.add_implicit_resolver(
    "tag:yaml.org,2002:null", re.compile(r"^(?:~|null|Null|NULL|)$"), ["~", "n", "N", ""])
CoreResolver.add_implicit_resolver(
    "tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF"))
CoreResolver.add_implicit_resolver(
    "tag:yaml.org,2002:int", re.compile(r"^(?:[-+]?[0-9]+|0o[0-7]+|0x[0-9a-fA-F]+)$"), list("-+0123456789"))
CoreResolver.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^(?:[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$"),
    list("-+0123456789."))


def load(path):
    yaml = YAML(typ="safe", pure=True)
    yaml.Resolver = CoreResolver
    with open(path, encoding="utf-8") as handle:
        return yaml.load(handle)
