"""Self-service sign-up and the "Please verify your email" page."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth import login
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from trunkline.accounts import auth_flows
from trunkline.accounts.forms import SignUpForm, add_service_error, sentence
from trunkline.accounts.views.common import (
    SESSION_BACKEND,
    public_base_url,
    request_actor,
)
from trunkline.core import ratelimit
from trunkline.core.errors import TrunklineError
from trunkline.core.middleware import client_ip

SIGNUPS_PER_MINUTE_PER_IP = 5


def signup_view(request):
    if request.user.is_authenticated:
        return redirect("/")
    form = SignUpForm(request.POST or None)
    status = 200
    if request.method == "POST" and form.is_valid():
        ip_address = client_ip(request)
        if ip_address and ratelimit.hit("signup", ip_address, SIGNUPS_PER_MINUTE_PER_IP):
            form.add_error(None, "Too many sign-ups from your network. Try again in a minute.")
            status = 429
        else:
            try:
                _, user = auth_flows.partner_sign_up(
                    actor=request_actor(request),
                    company_name=form.cleaned_data["company_name"],
                    name=form.cleaned_data["name"],
                    email=form.cleaned_data["email"],
                    password=form.cleaned_data["password"],
                    base_url=public_base_url(request),
                )
            except TrunklineError as error:
                add_service_error(form, error)
                status = error.status
            else:
                login(request, user, backend=SESSION_BACKEND)
                return redirect("/verify-email")
    elif request.method == "POST":
        status = 422
    return render(request, "accounts/signup.html", {"form": form}, status=status)


def verify_email_view(request):
    """Where signed-in users with an unverified email land (portal.access sends them here)."""
    if not request.user.is_authenticated:
        return redirect("/login?next=/verify-email")
    if request.user.email_verified_at is not None:
        return redirect("/")
    return render(request, "accounts/verify_email.html")


@require_POST
def verify_email_resend_view(request):
    if not request.user.is_authenticated:
        return redirect("/login?next=/verify-email")
    try:
        auth_flows.email_verification_resend(
            actor=request_actor(request), base_url=public_base_url(request)
        )
    except TrunklineError as error:
        messages.error(request, sentence(error.message))
    else:
        messages.success(request, f"We sent a new link to {request.user.email}.")
    return redirect("/verify-email")


def verify_email_confirm_view(request, token: str):
    try:
        auth_flows.user_email_verify(actor=request_actor(request), token=token)
    except TrunklineError as error:
        return render(
            request,
            "accounts/link_problem.html",
            {"title": "Verification link", "message": sentence(error.message)},
        )
    messages.success(request, "Your email is verified.")
    if request.user.is_authenticated:
        return redirect("/")
    return redirect("/login")
