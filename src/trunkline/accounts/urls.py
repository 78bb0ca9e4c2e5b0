from django.urls import path

from trunkline.accounts.views import (
    invite,
    password,
    settings_account,
    settings_notifications,
    settings_team,
    signin,
    signup,
)

urlpatterns = [
    path("login", signin.login_view, name="login"),
    path("login/2fa", signin.login_second_factor_view, name="login-2fa"),
    path("logout", signin.logout_view, name="logout"),
    path("signup", signup.signup_view, name="signup"),
    path("verify-email", signup.verify_email_view, name="verify-email"),
    path("verify-email/resend", signup.verify_email_resend_view, name="verify-email-resend"),
    path("verify-email/<str:token>", signup.verify_email_confirm_view, name="verify-email-confirm"),
    path("forgot-password", password.forgot_password_view, name="forgot-password"),
    path(
        "reset-password/<str:uidb64>/<str:token>",
        password.reset_password_view,
        name="reset-password",
    ),
    path("invite/<str:token>", invite.invite_accept_view, name="invite-accept"),
    path("settings/account", settings_account.account_view, name="settings-account"),
    path("settings/account/profile", settings_account.profile_update_view),
    path("settings/account/password", settings_account.password_change_view),
    path("settings/account/2fa/start", settings_account.two_factor_start_view),
    path("settings/account/2fa/cancel", settings_account.two_factor_cancel_view),
    path("settings/account/2fa/confirm", settings_account.two_factor_confirm_view),
    path("settings/account/2fa/disable", settings_account.two_factor_disable_view),
    path("settings/account/2fa/recovery-codes", settings_account.recovery_codes_view),
    path("settings/account/delete", settings_account.account_delete_view),
    path("settings/users", settings_team.users_view, name="settings-users"),
    path("settings/users/invite", settings_team.invite_view),
    path("settings/users/<str:user_id>/role", settings_team.role_change_view),
    path("settings/users/<str:user_id>/remove", settings_team.remove_view),
    path("settings/invitations/<str:invitation_id>/resend", settings_team.invitation_resend_view),
    path("settings/invitations/<str:invitation_id>/revoke", settings_team.invitation_revoke_view),
    path(
        "settings/notifications",
        settings_notifications.notifications_view,
        name="settings-notifications",
    ),
]
