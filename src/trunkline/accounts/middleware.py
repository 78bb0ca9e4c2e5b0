"""Sessions end when the user is removed or deactivated, and after 8 hours regardless."""

from django.contrib.auth import logout


class SessionFreshnessMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if request.path_info.startswith("/v1/"):
            # API calls authenticate by key, never by session: loading the session and the
            # user here only cost them time (and a `Vary: Cookie`).
            return self.get_response(request)
        user = getattr(request, "user", None)
        # Django's auth middleware already refuses inactive users; a removed user keeps no
        # session because removal deletes their sessions. This catches a partner that was
        # closed while its users were signed in.
        if user is not None and user.is_authenticated and user.partner_id:
            partner = user.partner
            if partner.deleted_at is not None:
                logout(request)
        return self.get_response(request)
