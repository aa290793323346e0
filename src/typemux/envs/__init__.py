"""Environment discovery: which Python environment, and which project, serve a file.

See docs/environments.md for the rules and their order; `resolver.RULES` is that order.
"""

from typemux.envs.model import Venv, Verdict
from typemux.envs.resolver import RULE_NAMES, RULES, EnvResolver, FolderReport, Rule, Seen

__all__ = ["RULES", "RULE_NAMES", "EnvResolver", "FolderReport", "Rule", "Seen", "Venv", "Verdict"]
