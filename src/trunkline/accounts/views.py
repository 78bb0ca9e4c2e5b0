"""Sign-in and sign-out pages."""

from __future__ import annotations

from django.contrib.auth import authenticate, login, logout
from django.shortcuts import redirect, render
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_POST


def _safe_next(request, default: str = "/") -> str:
    target = request.POST.get("next") or request.GET.get("next") or default
    if url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}):
        return target
    return default


def login_view(request):
    error = None
    if request.method == "POST":
        email = (request.POST.get("email") or "").strip().lower()
        password = request.POST.get("password") or ""
        user = authenticate(request, email=email, password=password)
        if user is not None:
            login(request, user)
            return redirect(_safe_next(request))
        error = "That email and password do not match an account."
    return render(request, "accounts/login.html", {"error": error, "next": _safe_next(request)})


@require_POST
def logout_view(request):
    logout(request)
    return redirect("/login")
