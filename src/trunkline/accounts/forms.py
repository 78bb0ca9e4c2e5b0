"""Forms for the accounts pages. They only read and shape input; the services decide."""

from __future__ import annotations

from django import forms

from trunkline.accounts.models import User
from trunkline.core.errors import TrunklineError

ROLE_CHOICES = [
    (User.Role.PARTNER_ADMIN, User.Role.PARTNER_ADMIN.label),
    (User.Role.PARTNER_USER, User.Role.PARTNER_USER.label),
]


def _password(label: str, autocomplete: str = "new-password") -> forms.CharField:
    return forms.CharField(
        label=label,
        strip=False,
        max_length=256,
        widget=forms.PasswordInput(attrs={"autocomplete": autocomplete}),
    )


class SignUpForm(forms.Form):
    company_name = forms.CharField(label="Company", max_length=200)
    name = forms.CharField(label="Your name", max_length=150)
    email = forms.EmailField(label="Email", max_length=254)
    password = _password("Password")


class LoginForm(forms.Form):
    email = forms.CharField(max_length=254)
    password = forms.CharField(strip=False, max_length=256)


class SecondFactorForm(forms.Form):
    code = forms.CharField(label="Code", max_length=32)


class ForgotPasswordForm(forms.Form):
    email = forms.EmailField(label="Email", max_length=254)


class SetPasswordForm(forms.Form):
    new_password = _password("New password")
    new_password_again = _password("New password again")


class InviteAcceptForm(forms.Form):
    name = forms.CharField(label="Your name", max_length=150, required=False)
    password = _password("Password")
    password_again = _password("Password again")


class InviteForm(forms.Form):
    email = forms.EmailField(label="Email", max_length=254)
    name = forms.CharField(label="Name", max_length=150, required=False)
    role = forms.ChoiceField(label="Role", choices=ROLE_CHOICES)


class RoleForm(forms.Form):
    role = forms.ChoiceField(choices=ROLE_CHOICES)


class ProfileForm(forms.Form):
    name = forms.CharField(label="Name", max_length=150)


class PasswordChangeForm(forms.Form):
    current_password = _password("Current password", "current-password")
    new_password = _password("New password")
    new_password_again = _password("New password again")


class TwoFactorCodeForm(forms.Form):
    code = forms.CharField(label="6-digit code", max_length=16)


class PasswordConfirmForm(forms.Form):
    password = _password("Current password", "current-password")


class DeleteAccountForm(forms.Form):
    confirmation = forms.CharField(label='Type "DELETE" to confirm', max_length=16)


def add_service_error(form: forms.Form, error: TrunklineError) -> None:
    """Show a service's refusal on the field it names, or on the form as a whole."""
    field = error.field if error.field in form.fields else None
    form.add_error(field, sentence(error.message))


def sentence(message: str) -> str:
    message = message.strip()
    if not message:
        return message
    message = message[0].upper() + message[1:]
    return message if message.endswith((".", "!", "?")) else message + "."
