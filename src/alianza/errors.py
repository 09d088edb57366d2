"""The one exception root of Alianza.

Every failure a person can cause or fix is an ``AlianzaError`` subclass. The message is an English template
with ``{placeholders}``; it doubles as the gettext msgid so that the web layer can render the same error in
Spanish. ``details`` carries structured data (per-field or per-row problems, both versions of a conflict)
that the API returns in its single error shape ``{"error": {"code", "message", "details"}}``.
"""

from __future__ import annotations

from typing import Any, ClassVar


class AlianzaError(Exception):
    """Root of every error Alianza raises on purpose."""

    code: ClassVar[str] = "error"
    http_status: ClassVar[int] = 400

    def __init__(self, message: str, *, details: Any = None, **params: Any) -> None:
        self.template = message
        self.params = params
        self.details = details
        super().__init__(self.render())

    def render(self, gettext: Any = None) -> str:
        """The message in the reader's language; ``gettext`` translates the template before filling it."""
        template = gettext(self.template) if gettext is not None else self.template
        try:
            return str(template.format(**self.params))
        except (KeyError, IndexError):
            return str(template)


def problem(field: str | None, template: str, **params: Any) -> dict[str, Any]:
    """One problem of a ``ValidationError``: filled in English, and kept as template + params so that the
    web layer can render it in the reader's language."""
    try:
        message = template.format(**params)
    except (KeyError, IndexError):
        message = template
    return {"field": field, "message": message, "template": template, "params": params}


def render_problem(item: dict[str, Any], gettext: Any) -> str:
    """A problem's message in the language of ``gettext``."""
    template = item.get("template")
    if not isinstance(template, str):
        return str(gettext(str(item.get("message", ""))))
    try:
        return str(gettext(template).format(**item.get("params", {})))
    except (KeyError, IndexError):
        return str(item.get("message", template))


class ValidationError(AlianzaError):
    """Input is wrong; ``details`` lists every problem (field or line) so all can be fixed at once."""

    code = "validation_error"
    http_status = 422


class NotFoundError(AlianzaError):
    """The thing asked for does not exist (or the reader may not know that it does)."""

    code = "not_found"
    http_status = 404


class ConflictError(AlianzaError):
    """Somebody else saved first; ``details`` holds both versions so nothing is overwritten silently."""

    code = "conflict"
    http_status = 409


class PermissionDeniedError(AlianzaError):
    """The user's role does not allow this action."""

    code = "permission_denied"
    http_status = 403


class AuthenticationError(AlianzaError):
    """No valid credentials, or they expired."""

    code = "authentication_required"
    http_status = 401


class SessionExpiredError(AuthenticationError):
    """The web session timed out; the user must sign in again."""

    code = "session_expired"


class CsrfError(AlianzaError):
    """A form or cookie-authenticated call came without the session's CSRF token."""

    code = "csrf_failed"
    http_status = 403


class ConfigurationError(AlianzaError):
    """The node's settings or data files are wrong; the operator must fix them before it can run."""

    code = "configuration_error"
    http_status = 500


class UploadError(ValidationError):
    """An uploaded file is too large."""

    code = "upload_too_large"
    http_status = 413


class UnsupportedUploadError(ValidationError):
    """An uploaded file is empty, of a type that is not allowed, or its bytes contradict its name."""

    code = "upload_unsupported"
    http_status = 415
