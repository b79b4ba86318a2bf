"""`human`: a number as a person reads it, wherever metrics, configs and counts reach a page.

`floatformat:4` turned TRL's `total_flos` into `110311557120.0000` and a learning rate of 2e-5 into `0.0000`: this
filter keeps about three significant digits and switches to scientific notation where fixed notation fails.
"""

from __future__ import annotations

import math
from typing import Any

from django import template

register = template.Library()

BIG = 1e6  # from here on, 1.50e6 reads better than 1,500,000.0
SMALL = 1e-3  # below this, 2.50e-5 instead of 0.0000


def _scientific(value: float) -> str:
    mantissa, exponent = f"{value:.2e}".split("e")
    return f"{mantissa}e{int(exponent)}"


@register.filter
def human(value: Any) -> str:
    """Integers with thousands separators, other numbers to four significant digits, very large or very small ones
    in scientific notation; anything else (text, lists, None as a dash) as it is.

    >>> human(110311557120.0), human(0.123456), human(12345.0), human(2e-5), human("cosine")
    ('1.10e11', '0.1235', '12,345', '2.00e-5', 'cosine')
    """
    if value is None:
        return "—"
    if isinstance(value, bool) or not isinstance(value, int | float):
        return str(value)
    if not math.isfinite(value):
        return str(value)
    magnitude = abs(value)
    if magnitude >= BIG or (0 < magnitude < SMALL):
        return _scientific(value)
    if float(value).is_integer():
        return f"{int(value):,}"
    if magnitude >= 1000:
        return f"{value:,.1f}"
    return f"{value:.4g}"
