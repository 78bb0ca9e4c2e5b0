"""Reads for the accounts pages, always scoped by the caller's partner."""

from __future__ import annotations

from django.db.models import QuerySet
from django.http import Http404

from trunkline.accounts.models import Invitation, Partner, User

TEAM_ROLES = (User.Role.PARTNER_ADMIN, User.Role.PARTNER_USER)


def team_members(partner: Partner) -> QuerySet[User]:
    """Everyone with login access to the partner dashboard (removed users are not listed)."""
    return User.objects.filter(partner=partner, role__in=TEAM_ROLES, is_active=True).order_by(
        "created_at", "email"
    )


def team_member_get(partner: Partner, user_id: str) -> User:
    """A member of this partner's team; anyone else is a 404, so ids cannot be probed."""
    member = team_members(partner).filter(pk=user_id).first()
    if member is None:
        raise Http404("no such user")
    return member


def invitations_open(partner: Partner) -> QuerySet[Invitation]:
    """Invitations neither accepted nor revoked, expired ones included (they can be resent)."""
    return Invitation.objects.filter(
        partner=partner, accepted_at__isnull=True, revoked_at__isnull=True
    ).order_by("-sent_at")


def invitation_get(partner: Partner, invitation_id: str) -> Invitation:
    invitation = Invitation.objects.filter(partner=partner, pk=invitation_id).first()
    if invitation is None:
        raise Http404("no such invitation")
    return invitation


def partner_admin_emails(partner: Partner) -> list[str]:
    """Where partner notifications go: every active, verified Partner Admin."""
    return list(
        User.objects.filter(
            partner=partner,
            role=User.Role.PARTNER_ADMIN,
            is_active=True,
            email_verified_at__isnull=False,
        )
        .order_by("email")
        .values_list("email", flat=True)
    )
