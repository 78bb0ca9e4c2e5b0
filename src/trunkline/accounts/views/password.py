"""Forgot password and the reset link."""

from __future__ import annotations

from django.contrib import messages
from django.shortcuts import redirect, render

from trunkline.accounts import auth_flows
from trunkline.accounts.forms import ForgotPasswordForm, SetPasswordForm, add_service_error
from trunkline.accounts.views.common import public_base_url, request_actor
from trunkline.core.errors import TrunklineError

# As in Django's own reset view: the token moves from the URL into the session, so it is
# not left in the address bar or sent on in a Referer header.
_RESET_TOKEN = "password_reset_token"
_SET_PASSWORD = "set-password"


def forgot_password_view(request):
    form = ForgotPasswordForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        auth_flows.password_reset_request(
            actor=request_actor(request),
            email=form.cleaned_data["email"],
            base_url=public_base_url(request),
        )
        # The same answer whether or not the address has an account.
        return render(request, "accounts/forgot_password_sent.html")
    return render(request, "accounts/forgot_password.html", {"form": form})


def reset_password_view(request, uidb64: str, token: str):
    if token != _SET_PASSWORD:
        if auth_flows.password_reset_user(uidb64, token) is None:
            return _invalid(request)
        request.session[_RESET_TOKEN] = token
        return redirect(f"/reset-password/{uidb64}/{_SET_PASSWORD}")
    token = request.session.get(_RESET_TOKEN, "")
    if auth_flows.password_reset_user(uidb64, token) is None:
        return _invalid(request)
    form = SetPasswordForm(request.POST or None)
    status = 200
    if request.method == "POST" and form.is_valid():
        try:
            auth_flows.password_reset_complete(
                actor=request_actor(request),
                uidb64=uidb64,
                token=token,
                new_password=form.cleaned_data["new_password"],
                new_password_again=form.cleaned_data["new_password_again"],
            )
        except TrunklineError as error:
            add_service_error(form, error)
            status = error.status
        else:
            request.session.pop(_RESET_TOKEN, None)
            messages.success(request, "Your password is changed. Sign in with the new one.")
            return redirect("/login")
    return render(request, "accounts/reset_password.html", {"form": form}, status=status)


def _invalid(request):
    return render(
        request,
        "accounts/link_problem.html",
        {
            "title": "Reset link",
            "message": "This reset link has expired or was already used. Ask for a new one.",
            "retry_url": "/forgot-password",
        },
    )
