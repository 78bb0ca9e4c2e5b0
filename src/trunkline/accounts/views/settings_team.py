"""Settings → Users: the team list, invitations, roles and removal."""

from __future__ import annotations

from django.contrib import messages
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_POST

from trunkline.accounts import clock, selectors, team
from trunkline.accounts.forms import InviteForm, RoleForm, add_service_error, sentence
from trunkline.accounts.views.common import public_base_url
from trunkline.core.errors import TrunklineError
from trunkline.portal.access import partner_required, writer_required

USERS_URL = "/settings/users"


def _page(request, *, status: int = 200, invite_form=None, error: str | None = None):
    partner = request.user.partner
    now = clock.now()
    invitations = [
        (invitation, team.invitation_is_expired(invitation, now))
        for invitation in selectors.invitations_open(partner)
    ]
    return render(
        request,
        "accounts/settings_users.html",
        {
            "nav": "settings",
            "tab": "users",
            "members": selectors.team_members(partner),
            "invitations": invitations,
            "invite_form": invite_form or InviteForm(),
            "role_choices": RoleForm.base_fields["role"].choices,
            "error": error,
            "can_manage": request.user.can_write,
        },
        status=status,
    )


def _failed(request, error: TrunklineError):
    return _page(request, status=error.status, error=sentence(error.message))


@require_GET
@partner_required
def users_view(request):
    return _page(request)


@require_POST
@writer_required
def invite_view(request):
    form = InviteForm(request.POST)
    if not form.is_valid():
        return _page(request, status=422, invite_form=form)
    try:
        invitation = team.invitation_create(
            actor=request.actor,
            email=form.cleaned_data["email"],
            name=form.cleaned_data["name"],
            role=form.cleaned_data["role"],
            base_url=public_base_url(request),
        )
    except TrunklineError as error:
        add_service_error(form, error)
        return _page(request, status=error.status, invite_form=form)
    messages.success(request, f"Invitation sent to {invitation.email}.")
    return redirect(USERS_URL)


@require_POST
@writer_required
def role_change_view(request, user_id: str):
    member = selectors.team_member_get(request.user.partner, user_id)
    form = RoleForm(request.POST)
    if not form.is_valid():
        return _page(request, status=422, error="Choose Partner Admin or Partner User.")
    try:
        team.team_member_role_change(
            actor=request.actor, member=member, role=form.cleaned_data["role"]
        )
    except TrunklineError as error:
        return _failed(request, error)
    messages.success(request, f"{member.email} is now a {member.get_role_display()}.")
    return redirect(USERS_URL)


@require_POST
@writer_required
def remove_view(request, user_id: str):
    member = selectors.team_member_get(request.user.partner, user_id)
    try:
        team.team_member_remove(actor=request.actor, member=member)
    except TrunklineError as error:
        return _failed(request, error)
    messages.success(request, f"{member.email} was removed and signed out.")
    return redirect(USERS_URL)


@require_POST
@writer_required
def invitation_resend_view(request, invitation_id: str):
    invitation = selectors.invitation_get(request.user.partner, invitation_id)
    try:
        team.invitation_resend(
            actor=request.actor, invitation=invitation, base_url=public_base_url(request)
        )
    except TrunklineError as error:
        return _failed(request, error)
    messages.success(request, f"Invitation sent again to {invitation.email}.")
    return redirect(USERS_URL)


@require_POST
@writer_required
def invitation_revoke_view(request, invitation_id: str):
    invitation = selectors.invitation_get(request.user.partner, invitation_id)
    try:
        team.invitation_revoke(actor=request.actor, invitation=invitation)
    except TrunklineError as error:
        return _failed(request, error)
    messages.success(request, f"Invitation to {invitation.email} withdrawn.")
    return redirect(USERS_URL)
