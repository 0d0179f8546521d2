"""Slugs are DNS labels (RFC 1123): they later name Kubernetes namespaces and hostnames."""

from __future__ import annotations

import re
import unicodedata

from meshploy_core.errors import ValidationFailed

MAX_LABEL = 63
_LABEL = re.compile(r"^[a-z0-9]([a-z0-9-]*[a-z0-9])?$")


def label_problem(value: str) -> str | None:
    """Why ``value`` is not a DNS label, in words a user can act on; None when it is one."""
    if not value:
        return "must not be empty"
    if len(value) > MAX_LABEL:
        return f"must be at most {MAX_LABEL} characters (got {len(value)})"
    if value != value.lower():
        return f"must be lower-case (try {value.lower()!r})"
    if not re.fullmatch(r"[a-z0-9-]+", value):
        return "may contain only the letters a-z, digits 0-9 and '-'"
    if not _LABEL.match(value):
        return "must start and end with a letter or a digit"
    return None


def validate_label(value: str, field: str = "slug") -> str:
    """Return ``value`` if it is a DNS label, else raise ValidationFailed naming ``field``."""
    problem = label_problem(value)
    if problem is not None:
        raise ValidationFailed(f"{field} {problem}", {field: problem})
    return value


def slugify(name: str, field: str = "slug") -> str:
    """Derive a DNS label from a display name: ``"My API (v2)"`` -> ``"my-api-v2"``."""
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode("ascii")
    text = re.sub(r"[^a-z0-9]+", "-", ascii_name.lower()).strip("-")
    text = text[:MAX_LABEL].rstrip("-")
    if not text:
        raise ValidationFailed(
            f"cannot derive a {field} from this name; give a {field} (letters a-z, digits and '-')",
            {field: "required: the name has no letters or digits to derive it from"},
        )
    return text
