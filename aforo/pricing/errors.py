"""The one error the rating library raises."""

from __future__ import annotations


class PriceError(ValueError):
    """A price that does not validate, or an input it cannot rate.

    `errors` holds every problem found, each naming the field path and the
    value (`price.tiers[2].up_to: must be greater than tiers[1].up_to (10) (got 5)`);
    `str()` is those lines joined. Terminal: retrying the same input cannot help.
    """

    def __init__(self, errors: list[str] | str) -> None:
        self.errors = [errors] if isinstance(errors, str) else list(errors)
        super().__init__("\n".join(self.errors))
