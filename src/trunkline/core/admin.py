"""The email outbox in the Django admin: platform staff see what was sent, what is waiting
for a retry and why, and can send a failed email again. The message itself is sealed and
never shown."""

from __future__ import annotations

from django.contrib import admin, messages
from django.utils import timezone

from trunkline.core.models import OutgoingEmail


@admin.register(OutgoingEmail)
class OutgoingEmailAdmin(admin.ModelAdmin):
    list_display = ("created_at", "subject", "recipient_list", "category", "status", "attempts")
    list_filter = ("status", "category")
    search_fields = ("id", "subject", "recipients")
    readonly_fields = (
        "id",
        "partner",
        "category",
        "recipients",
        "subject",
        "status",
        "attempts",
        "last_error",
        "next_attempt_at",
        "claimed_at",
        "created_at",
        "sent_at",
    )
    exclude = ("sealed_message",)
    actions = ("retry_now",)

    @admin.display(description="To")
    def recipient_list(self, email: OutgoingEmail) -> str:
        return ", ".join(email.recipients)

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    @admin.action(description="Try failed or waiting emails again now")
    def retry_now(self, request, queryset) -> None:
        now = timezone.now()
        retried = (
            queryset.filter(status__in=(OutgoingEmail.Status.FAILED, OutgoingEmail.Status.QUEUED))
            .exclude(sealed_message=None)
            .update(status=OutgoingEmail.Status.QUEUED, next_attempt_at=now)
        )
        messages.info(request, f"{retried} email(s) queued; the next delivery run sends them.")
