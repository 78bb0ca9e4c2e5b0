"""The invitation link: a "set your password" page that creates the team member."""

from __future__ import annotations

from django.contrib import messages
from django.shortcuts import redirect, render

from trunkline.accounts import team
from trunkline.accounts.forms import InviteAcceptForm, add_service_error
from trunkline.accounts.views.common import request_actor
from trunkline.core.errors import TrunklineError


def invite_accept_view(request, token: str):
    invitation = team.invitation_for_token(token)
    if invitation is None:
        return render(
            request,
            "accounts/link_problem.html",
            {
                "title": "Invitation",
                "message": "This invitation has expired or was withdrawn. "
                "Ask whoever invited you to send it again.",
            },
        )
    form = InviteAcceptForm(request.POST or None, initial={"name": invitation.name})
    status = 200
    if request.method == "POST" and form.is_valid():
        try:
            team.invitation_accept(
                actor=request_actor(request),
                token=token,
                name=form.cleaned_data["name"],
                password=form.cleaned_data["password"],
                password_again=form.cleaned_data["password_again"],
            )
        except TrunklineError as error:
            add_service_error(form, error)
            status = error.status
        else:
            messages.success(request, "Your account is ready. Sign in to continue.")
            return redirect("/login")
    return render(
        request,
        "accounts/invite_accept.html",
        {"form": form, "invitation": invitation, "invited_brand": invitation.partner.display_brand},
        status=status,
    )
