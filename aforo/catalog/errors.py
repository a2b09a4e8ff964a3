"""The catalog's errors."""

from __future__ import annotations

from aforo.settings import ConfigError


class CatalogError(ConfigError):
    """A catalog that does not load: `errors` holds every problem found, one line
    each, naming the file, the path and the value
    (`plans/growth.yaml: versions[0].charges[1].price.tiers[2].up_to: ...`).
    `str()` is those lines joined. Terminal: fix the files and load again."""

    def __init__(self, errors: list[str] | str) -> None:
        self.errors = [errors] if isinstance(errors, str) else list(errors)
        super().__init__("\n".join(self.errors))
