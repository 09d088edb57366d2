"""What each role may do. Checked in the domain services, so the API, the UI and the CLI agree."""

from __future__ import annotations

from enum import StrEnum

from alianza.accounts.models import User
from alianza.errors import PermissionDeniedError


class Permission(StrEnum):
    READ_COOPERATION = "read_cooperation"
    EDIT_COOPERATION = "edit_cooperation"
    ADD_FOLLOWUP = "add_followup"
    MANAGE_USERS = "manage_users"
    READ_RECORDS = "read_records"
    EDIT_RECORDS = "edit_records"
    PURGE_RECORDS = "purge_records"
    PROPOSE_RELEASE = "propose_release"
    REVIEW_RELEASE = "review_release"
    READ_AUDIT = "read_audit"


ROLES: dict[str, frozenset[Permission]] = {
    "coordinator": frozenset({Permission.READ_COOPERATION, Permission.EDIT_COOPERATION, Permission.ADD_FOLLOWUP}),
    # Analysts and reviewers follow the mechanism and can report what their agency did, but the
    # commitments themselves are the coordinators' to change.
    "analyst": frozenset(
        {
            Permission.READ_COOPERATION,
            Permission.ADD_FOLLOWUP,
            Permission.READ_RECORDS,
            Permission.EDIT_RECORDS,
            Permission.PURGE_RECORDS,
            Permission.PROPOSE_RELEASE,
        }
    ),
    # Legal reviewers approve or refuse releases; they read records to judge them but never author them.
    "legal_reviewer": frozenset(
        {Permission.READ_COOPERATION, Permission.ADD_FOLLOWUP, Permission.READ_RECORDS, Permission.REVIEW_RELEASE}
    ),
    # Auditors read the log, the accounting of disclosures and the retention queue; they change nothing.
    "auditor": frozenset({Permission.READ_COOPERATION, Permission.READ_RECORDS, Permission.READ_AUDIT}),
    "admin": frozenset(Permission),
}


def allowed(user: User, permission: Permission) -> bool:
    return user.active and permission in ROLES.get(user.role, frozenset())


def require(user: User, permission: Permission) -> None:
    """Refuse the action unless the user's role grants ``permission``."""
    if not allowed(user, permission):
        raise PermissionDeniedError(
            "Your role ({role}) does not allow this action ({permission}); ask a coordinator or an admin.",
            role=user.role,
            permission=permission.value,
        )
