"""Sign in (password, then the 2FA code when it is on) and sign out."""

from __future__ import annotations

from django.contrib.auth import login, logout
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from trunkline.accounts import clock, signin
from trunkline.accounts.forms import LoginForm, SecondFactorForm
from trunkline.accounts.views.common import SESSION_BACKEND, safe_next
from trunkline.core.middleware import client_ip


def login_view(request):
    next_url = safe_next(request)
    if request.user.is_authenticated:
        return redirect(next_url)
    form = LoginForm(request.POST or None)
    error, status = None, 200
    if request.method == "POST":
        # A new attempt abandons any half-finished one (password right, code not yet given).
        signin.pending_second_factor_clear(request.session)
    if request.method == "POST" and form.is_valid():
        result = signin.user_sign_in(
            email=form.cleaned_data["email"],
            password=form.cleaned_data["password"],
            ip_address=client_ip(request),
        )
        if result.retry_in_minutes is not None:
            error, status = result.error, 429
        elif result.error:
            error = result.error
        elif result.needs_second_factor:
            signin.pending_second_factor_start(
                request.session, user=result.user, next_url=next_url, now=clock.now()
            )
            return redirect("/login/2fa")
        else:
            login(request, result.user, backend=SESSION_BACKEND)
            return redirect(next_url)
    elif request.method == "POST":
        error = signin.WRONG_PASSWORD
    return render(
        request,
        "accounts/login.html",
        {"error": error, "next": next_url, "email": request.POST.get("email", "")},
        status=status,
    )


def login_second_factor_view(request):
    """The second step: nobody is signed in until the code passes."""
    user = signin.pending_second_factor_user(request.session, now=clock.now())
    if user is None:
        return redirect("/login")
    form = SecondFactorForm(request.POST or None)
    error, status = None, 200
    if request.method == "POST" and form.is_valid():
        result = signin.user_sign_in_second_factor(
            user=user, code=form.cleaned_data["code"], ip_address=client_ip(request)
        )
        if result.ok:
            next_url = signin.pending_second_factor_next(request.session)
            signin.pending_second_factor_clear(request.session)
            login(request, user, backend=SESSION_BACKEND)
            return redirect(next_url)
        error = result.error
        if result.retry_in_minutes is not None:
            status = 429
    return render(request, "accounts/login_2fa.html", {"error": error}, status=status)


@require_POST
def logout_view(request):
    logout(request)
    return redirect("/login")
