"""Settings → Account: profile, password, two-factor authentication, the partner's logo
(its form posts to branding.views), deleting the account."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth import logout, update_session_auth_hash
from django.shortcuts import redirect, render
from django.utils.safestring import mark_safe
from django.views.decorators.http import require_GET, require_POST

from trunkline.accounts import account_settings, twofactor
from trunkline.accounts.forms import (
    DeleteAccountForm,
    PasswordChangeForm,
    PasswordConfirmForm,
    ProfileForm,
    TwoFactorCodeForm,
    add_service_error,
)
from trunkline.branding.selectors import partner_logo_info
from trunkline.core.errors import TrunklineError
from trunkline.portal.access import partner_required, writer_required

ACCOUNT_URL = "/settings/account"


def _grouped(secret: str) -> str:
    return " ".join(secret[index : index + 4] for index in range(0, len(secret), 4))


def account_page(request, *, status: int = 200, **forms):
    """The Account page; `forms` replace its forms or add to its context (such as the
    Logo card's `logo_error`, from branding.views)."""
    user = request.user
    context = {
        "nav": "settings",
        "tab": "account",
        "profile_form": ProfileForm(initial={"name": user.name}),
        "password_form": PasswordChangeForm(),
        "code_form": TwoFactorCodeForm(),
        "disable_form": PasswordConfirmForm(prefix="disable"),
        "regenerate_form": PasswordConfirmForm(prefix="regenerate"),
        "delete_form": DeleteAccountForm(),
        "recovery_codes": None,
        "can_delete_account": user.is_partner_admin,
        "logo": partner_logo_info(user.partner),
        "can_edit_logo": user.is_partner_admin,
    }
    context.update(forms)
    if user.has_2fa:
        context["recovery_codes_left"] = twofactor.recovery_codes_left(user)
    else:
        secret = twofactor.pending_secret(user)
        if secret:
            uri = twofactor.provisioning_uri(user, secret)
            context["setup_secret"] = _grouped(secret)
            # segno draws the URI as SVG paths; the markup holds no user-supplied text.
            context["setup_qr"] = mark_safe(twofactor.qr_code_svg(uri))  # noqa: S308
    if user.is_partner_admin:
        context["deletion_blockers"] = account_settings.partner_deletion_blockers(user.partner)
    return render(request, "accounts/settings_account.html", context, status=status)


@require_GET
@partner_required
def account_view(request):
    return account_page(request)


_FAILED = object()


def _submit(request, form, form_name: str, action):
    """Validate `form` and run `action(cleaned_data)` (a service call).

    Returns `(result, None)` on success, or `(_FAILED, response)` with the page re-rendered
    around the form and the service's error placed on its field.
    """
    if not form.is_valid():
        return _FAILED, account_page(request, status=422, **{form_name: form})
    try:
        return action(form.cleaned_data), None
    except TrunklineError as error:
        add_service_error(form, error)
        return _FAILED, account_page(request, status=error.status, **{form_name: form})


@require_POST
@partner_required
def profile_update_view(request):
    _, failed = _submit(
        request,
        ProfileForm(request.POST),
        "profile_form",
        lambda data: account_settings.user_profile_update(actor=request.actor, name=data["name"]),
    )
    if failed is not None:
        return failed
    messages.success(request, "Profile saved.")
    return redirect(ACCOUNT_URL)


@require_POST
@partner_required
def password_change_view(request):
    user, failed = _submit(
        request,
        PasswordChangeForm(request.POST),
        "password_form",
        lambda data: account_settings.user_password_change(
            actor=request.actor,
            current_password=data["current_password"],
            new_password=data["new_password"],
            new_password_again=data["new_password_again"],
            keep_session_key=request.session.session_key,
        ),
    )
    if failed is not None:
        return failed
    update_session_auth_hash(request, user)
    messages.success(request, "Password changed. Your other sessions were signed out.")
    return redirect(ACCOUNT_URL)


@require_POST
@partner_required
def two_factor_start_view(request):
    try:
        twofactor.two_factor_setup_start(actor=request.actor)
    except TrunklineError as error:
        messages.error(request, error.message)
    return redirect(f"{ACCOUNT_URL}#two-factor")


@require_POST
@partner_required
def two_factor_cancel_view(request):
    try:
        twofactor.two_factor_setup_cancel(actor=request.actor)
    except TrunklineError as error:
        messages.error(request, error.message)
    return redirect(ACCOUNT_URL)


@require_POST
@partner_required
def two_factor_confirm_view(request):
    codes, failed = _submit(
        request,
        TwoFactorCodeForm(request.POST),
        "code_form",
        lambda data: twofactor.two_factor_enable(actor=request.actor, code=data["code"]),
    )
    if failed is not None:
        return failed
    # Shown on this response only: they are stored hashed and cannot be shown again.
    return account_page(request, recovery_codes=codes)


@require_POST
@partner_required
def two_factor_disable_view(request):
    _, failed = _submit(
        request,
        PasswordConfirmForm(request.POST, prefix="disable"),
        "disable_form",
        lambda data: twofactor.two_factor_disable(actor=request.actor, password=data["password"]),
    )
    if failed is not None:
        return failed
    messages.success(request, "Two-factor authentication is off.")
    return redirect(ACCOUNT_URL)


@require_POST
@partner_required
def recovery_codes_view(request):
    codes, failed = _submit(
        request,
        PasswordConfirmForm(request.POST, prefix="regenerate"),
        "regenerate_form",
        lambda data: twofactor.recovery_codes_regenerate(
            actor=request.actor, password=data["password"]
        ),
    )
    if failed is not None:
        return failed
    return account_page(request, recovery_codes=codes)


@require_POST
@writer_required
def account_delete_view(request):
    _, failed = _submit(
        request,
        DeleteAccountForm(request.POST),
        "delete_form",
        lambda data: account_settings.partner_delete(
            actor=request.actor, confirmation=data["confirmation"]
        ),
    )
    if failed is not None:
        return failed
    logout(request)
    messages.success(request, "Your account is deleted.")
    return redirect("/login")
