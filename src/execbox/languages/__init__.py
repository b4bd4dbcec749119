"""Languages as data: how to compile and run each, its runtime files and a self-test.

One TOML file per language in ``languages/data``; adding a language is adding a file.
"""

from execbox.languages.language import Language, SelfTest
from execbox.languages.registry import LanguageUnavailable, Registry, UnknownLanguage

__all__ = ["Language", "LanguageUnavailable", "Registry", "SelfTest", "UnknownLanguage"]
